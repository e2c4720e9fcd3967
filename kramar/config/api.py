from ninja import NinjaAPI

api = NinjaAPI(title="Kramar API", version="1")
