"""The roles of head-office users (no imports: the CLI lists them without loading the app)."""

ADMIN = "admin"
PRICING = "pricing"
MARKETING = "marketing"
CUSTOMER_SERVICE = "customer-service"
TECHNICIAN = "technician"
READ_ONLY = "read-only"
ROLES = (ADMIN, PRICING, MARKETING, CUSTOMER_SERVICE, TECHNICIAN, READ_ONLY)
