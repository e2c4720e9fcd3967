"""The `kramar` command: Django's management commands with Kramar's settings.

    kramar serve [--port 8000]       migrate, collect static files, serve (ASGI)
    kramar demo --contacts N --seed S  build a deterministic demo client base
    kramar createuser NAME --role "Sales rep" --team Sales
    kramar token create --user NAME  a personal API token (shown once)
    kramar migrate | shell | …       any other management command
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kramar.config.settings.base")
    from django.core.management import execute_from_command_line

    argv = sys.argv[:]
    if len(argv) == 1:
        print(__doc__)
        argv.append("help")
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
