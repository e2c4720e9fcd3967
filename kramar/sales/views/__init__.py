"""The sales pages: the pipeline board, the deal list, the deal card and forms, the product catalogue."""

from kramar.sales.views.board import board, board_column_more, home
from kramar.sales.views.deals import (
    company_pick,
    contact_pick,
    deal_checklist,
    deal_create,
    deal_detail,
    deal_edit,
    deal_lines,
    deal_list,
    deal_stage,
    deals_bulk,
)
from kramar.sales.views.products import product_create, product_detail, product_edit, product_list

__all__ = [
    "board",
    "board_column_more",
    "company_pick",
    "contact_pick",
    "deal_checklist",
    "deal_create",
    "deal_detail",
    "deal_edit",
    "deal_lines",
    "deal_list",
    "deal_stage",
    "deals_bulk",
    "home",
    "product_create",
    "product_detail",
    "product_edit",
    "product_list",
]
