"""kramar demo --contacts N --seed S: load a deterministic, realistic demo client base."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from kramar.core.context import audit_context
from kramar.core.errors import DomainError
from kramar.demo.services import clients_count, demo_load


class Command(BaseCommand):
    help = (
        "Load a demo client base: teams and users, companies, contacts and their history, deals, tasks, products, "
        "exchange rates and targets, and the Communication Center (queues, channels, rules, agents, conversations). "
        "The same --seed "
        "gives the same data. Refuses a base that already has clients unless --if-empty, --append or --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000, help="number of contacts (default 2000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument("--deals", type=int, help="number of deals (default: a fifth of --contacts)")
        parser.add_argument("--tasks", type=int, help="number of tasks (default: as many as --contacts)")
        parser.add_argument("--conversations", type=int,
                            help="number of Communication Center conversations (default: 3 per 40 contacts, at most "
                                 "300)")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--if-empty", action="store_true", help="do nothing when clients exist already")
        mode.add_argument("--append", action="store_true", help="add demo clients beside the existing ones")
        mode.add_argument("--reset", action="store_true", help="DELETE every client and its history first")
        parser.add_argument("--no-input", "--noinput", action="store_false", dest="interactive",
                            help="don't ask to confirm --reset")
        parser.add_argument("--password", help="password for every demo user (default: a random one per new user)")
        parser.add_argument("--anchor-date", type=dt.date.fromisoformat,
                            help="the 'today' the demo history ends at (default: today; fix it for identical dates)")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args, contacts, seed, deals, tasks, conversations, if_empty, append, reset, interactive, password,
               anchor_date, batch_size, no_progress, **options):
        if contacts < 0:
            raise CommandError(_("--contacts must be 0 or more"))
        if deals is not None and deals < 0:
            raise CommandError(_("--deals must be 0 or more"))
        if tasks is not None and tasks < 0:
            raise CommandError(_("--tasks must be 0 or more"))
        if conversations is not None and conversations < 0:
            raise CommandError(_("--conversations must be 0 or more"))
        mode = "if_empty" if if_empty else "append" if append else "reset" if reset else "empty"
        if reset and interactive:
            n_contacts, n_companies = clients_count()
            answer = input(
                _("This deletes %(contacts)d contacts, %(companies)d companies and their history. Type 'yes' to go on: ")
                % {"contacts": n_contacts, "companies": n_companies}
            )
            if answer.strip().lower() != "yes":
                raise CommandError(_("Cancelled."))
        try:
            with audit_context(source="demo"):
                result = demo_load(
                    contacts=contacts, seed=seed, mode=mode, password=password, anchor=anchor_date,
                    progress=False if no_progress else None, batch_size=batch_size, deals=deals, tasks=tasks,
                    conversations=conversations,
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        if not result.loaded:
            self.stdout.write(
                _("The client base is not empty (%(contacts)d contacts, %(companies)d companies): demo data not "
                  "loaded. Demo users keep the passwords printed when they were created (reset one with "
                  "`kramar changepassword USERNAME`).")
                % {"contacts": result.contacts_before, "companies": result.companies_before}
            )
            return
        rows = sum(result.counts.values())
        s = result.seconds
        self.stdout.write(self.style.SUCCESS(
            _("Loaded %(rows)d rows in %(total).1f s (generate %(gen).1f s, write %(write).1f s, search index %(index).1f s):")
            % {"rows": rows, "total": s["total"], "gen": s["generate"], "write": s["write"],
               "index": s["index_suspend"] + s["index_rebuild"]}
        ))
        for key, n in result.counts.items():
            self.stdout.write(f"  {key:<16} {n:>10}")
        self.stdout.write("\n" + _("Demo logins (username / password, role, team):"))
        for login in result.logins:
            shown = login.password if login.password is not None else _("(existing user, password unchanged)")
            self.stdout.write(f"  {login.username:<12} {shown:<24} {login.role}{', ' + login.team if login.team else ''}")
