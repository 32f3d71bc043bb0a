"""SQLAlchemy models of central, a module per feature. Migrations live in central/migrations.

Every model is importable from here (``from central.models import Sale``); a new feature adds
its module and lists it below, so that the mapper registry (and Alembic) sees every table.
"""

from central.models.base import MONEY, QTY, RATE, Base, Meta, Money, UTCDateTime, utcnow
from central.models.cashiers import Cashier, CashierStore
from central.models.catalog import Barcode, Brand, Category, Family, Product
from central.models.customers import (
    Customer,
    CustomerAlert,
    CustomerCard,
    CustomerEdit,
    CustomerField,
    CustomerMerge,
    CustomerRedirect,
    CustomerSale,
    CustomerSetting,
)
from central.models.display import DisplayContent
from central.models.footfall import FootfallReading
from central.models.imports import ImportJob, ImportRejection
from central.models.instructions import (
    Instruction,
    InstructionDelivery,
    InstructionGroup,
    InstructionSeen,
    InstructionStore,
    SellerMessage,
)
from central.models.loyalty import (
    LoyaltyGift,
    LoyaltyLevel,
    LoyaltyProfileRow,
    LoyaltyProfileVersion,
    PointsBalance,
    PointsDrift,
    PointsEntry,
    ProductPointsValue,
)
from central.models.pricing import PartnerCard, PartnerProgramme, Policy, PriceEntry, VipCard
from central.models.receipts import ReceiptProfile
from central.models.sales import Sale, SaleDrift, SaleLine
from central.models.stores import BrokerCredential, EnrolmentCode, Store, StoreGroup, StoreStatus
from central.models.surveys import (
    Survey,
    SurveyAnswer,
    SurveyAssignment,
    SurveyItem,
    SurveyQuestion,
)
from central.models.sync import (
    Change,
    IngestCursor,
    ParkedEntry,
    PublishCursor,
    StoreRequest,
    StreamHead,
)
from central.models.users import ApiToken, User

__all__ = [
    "Customer",
    "CustomerAlert",
    "CustomerCard",
    "CustomerEdit",
    "CustomerField",
    "CustomerMerge",
    "CustomerRedirect",
    "CustomerSale",
    "CustomerSetting",
    "MONEY",
    "Money",
    "QTY",
    "RATE",
    "Base",
    "Meta",
    "UTCDateTime",
    "utcnow",
    "StoreGroup",
    "Store",
    "StoreStatus",
    "BrokerCredential",
    "EnrolmentCode",
    "Category",
    "Brand",
    "Family",
    "Product",
    "Barcode",
    "StreamHead",
    "Change",
    "PublishCursor",
    "IngestCursor",
    "ParkedEntry",
    "StoreRequest",
    "Sale",
    "SaleLine",
    "SaleDrift",
    "PriceEntry",
    "Policy",
    "PartnerProgramme",
    "PartnerCard",
    "VipCard",
    "User",
    "ApiToken",
    "ReceiptProfile",
    "Cashier",
    "CashierStore",
    "LoyaltyProfileRow",
    "LoyaltyProfileVersion",
    "LoyaltyLevel",
    "LoyaltyGift",
    "ProductPointsValue",
    "PointsDrift",
    "PointsEntry",
    "PointsBalance",
    "Instruction",
    "InstructionStore",
    "InstructionGroup",
    "InstructionDelivery",
    "InstructionSeen",
    "SellerMessage",
    "FootfallReading",
    "ImportJob",
    "ImportRejection",
    "SurveyQuestion",
    "Survey",
    "SurveyItem",
    "SurveyAssignment",
    "SurveyAnswer",
    "DisplayContent",
]
