from django.urls import path

from kramar.sales import views

app_name = "sales"
urlpatterns = [
    path("", views.home, name="home"),
    path("board/", views.board, name="board"),
    path("board/<int:pipeline_id>/", views.board, name="board"),
    path("board/<int:pipeline_id>/stages/<int:stage_id>/", views.board_column_more, name="board-column"),
    path("deals/", views.deal_list, name="deal-list"),
    path("deals/new/", views.deal_create, name="deal-create"),
    path("deals/bulk/", views.deals_bulk, name="deal-bulk"),
    path("deals/pick/companies/", views.company_pick, name="company-pick"),
    path("deals/pick/contacts/", views.contact_pick, name="contact-pick"),
    path("deals/<int:pk>/", views.deal_detail, name="deal-detail"),
    path("deals/<int:pk>/edit/", views.deal_edit, name="deal-edit"),
    path("deals/<int:pk>/stage/", views.deal_stage, name="deal-stage"),
    path("deals/<int:pk>/lines/", views.deal_lines, name="deal-lines"),
    path("deals/<int:pk>/checklist/", views.deal_checklist, name="deal-checklist"),
    path("products/", views.product_list, name="product-list"),
    path("products/new/", views.product_create, name="product-create"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("products/<int:pk>/edit/", views.product_edit, name="product-edit"),
]
