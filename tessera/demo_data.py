"""Demo master data: a small chain with a tobacco counter, real EAN-13 check digits, and
the pricing head office sets up (an exclusion, a sales rule, a promotion, a partner card
programme, a VIP card, store and scheduled prices), so that a till shows each of them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rules.barcodes import ean_check_digit

GROUPS = [{"code": "kiosks", "name": "Kiosks"}]
STORES = [
    {"code": "kiosk-1", "name": "Kiosk 1 - Station Square", "group": "kiosks"},
    {"code": "market", "name": "Market - Main Street", "group": None},
]
CATEGORIES = [
    {"code": "food", "name": "Food", "parent": None},
    {"code": "bakery", "name": "Bakery", "parent": "food"},
    {"code": "dairy", "name": "Dairy", "parent": "food"},
    {"code": "drinks", "name": "Drinks", "parent": None},
    {"code": "snacks", "name": "Snacks", "parent": "food"},
    {"code": "tobacco", "name": "Tobacco", "parent": None},
    {"code": "cigarettes", "name": "Cigarettes", "parent": "tobacco"},
    {"code": "press", "name": "Newspapers and magazines", "parent": None},
    {"code": "household", "name": "Household", "parent": None},
]
BRANDS = [
    {"code": "panifico", "name": "Panifico"},
    {"code": "lactis", "name": "Lactis"},
    {"code": "aqua-viva", "name": "Aqua Viva"},
    {"code": "crunchy", "name": "Crunchy"},
    {"code": "marlin", "name": "Marlin"},
    {"code": "clean-co", "name": "Clean & Co"},
]

# (name, category, brand, vat %, purchase cost, sale price)
_PRODUCTS = [
    ("White bread 500 g", "bakery", "panifico", "9", "1.20", "2.10"),
    ("Wholemeal bread 400 g", "bakery", "panifico", "9", "1.45", "2.60"),
    ("Croissant butter", "bakery", "panifico", "9", "0.55", "1.20"),
    ("Baguette", "bakery", "panifico", "9", "0.70", "1.40"),
    ("Milk 1.5% 1 l", "dairy", "lactis", "9", "0.85", "1.49"),
    ("Milk 3.5% 1 l", "dairy", "lactis", "9", "0.95", "1.69"),
    ("Yoghurt natural 150 g", "dairy", "lactis", "9", "0.40", "0.89"),
    ("Butter 200 g", "dairy", "lactis", "9", "1.90", "3.29"),
    ("Cheese slices 150 g", "dairy", "lactis", "9", "1.60", "2.79"),
    ("Mineral water 0.5 l", "drinks", "aqua-viva", "19", "0.25", "0.79"),
    ("Mineral water 1.5 l", "drinks", "aqua-viva", "19", "0.40", "1.19"),
    ("Sparkling water 0.5 l", "drinks", "aqua-viva", "19", "0.27", "0.85"),
    ("Orange juice 1 l", "drinks", "aqua-viva", "19", "1.10", "2.49"),
    ("Cola 0.33 l", "drinks", None, "19", "0.45", "1.29"),
    ("Iced tea 0.5 l", "drinks", None, "19", "0.50", "1.39"),
    ("Espresso to go", "drinks", None, "19", "0.30", "1.50"),
    ("Potato chips 150 g", "snacks", "crunchy", "19", "0.90", "2.19"),
    ("Salted peanuts 200 g", "snacks", "crunchy", "19", "1.05", "2.49"),
    ("Chocolate bar 100 g", "snacks", None, "19", "0.80", "1.79"),
    ("Chewing gum", "snacks", None, "19", "0.35", "0.99"),
    ("Cereal bar", "snacks", "crunchy", "19", "0.30", "0.79"),
    ("Cigarettes Marlin Red 20", "cigarettes", "marlin", "19", "5.10", "5.50"),
    ("Cigarettes Marlin Blue 20", "cigarettes", "marlin", "19", "5.10", "5.50"),
    ("Cigarettes Marlin Slim 20", "cigarettes", "marlin", "19", "5.30", "5.70"),
    ("Rolling tobacco 30 g", "tobacco", "marlin", "19", "4.20", "4.80"),
    ("Lighter", "tobacco", None, "19", "0.30", "1.00"),
    ("Daily newspaper", "press", None, "5", "0.90", "1.50"),
    ("Weekly magazine", "press", None, "5", "1.80", "3.00"),
    ("Crossword book", "press", None, "5", "1.20", "2.20"),
    ("Dish soap 500 ml", "household", "clean-co", "19", "0.95", "1.99"),
    ("Paper towels 2 rolls", "household", "clean-co", "19", "1.10", "2.29"),
    ("Batteries AA x4", "household", None, "19", "2.10", "4.49"),
    ("Trash bags 20 pcs", "household", "clean-co", "19", "0.85", "1.79"),
    ("Sandwich ham and cheese", "food", None, "9", "1.50", "3.20"),
    ("Banana (kg)", "food", None, "9", "0.90", "1.69"),
    ("Apples (kg)", "food", None, "9", "1.10", "2.29"),
]


def ean13(body12: str) -> str:
    return body12 + str(ean_check_digit(body12))


# "Points generated" (SPEC L2): what a unit earns under a profile that takes points from the
# products (the Club earns on the spend: the console's product page shows the field).
POINTS_GENERATED = {"Espresso to go": "2"}


def products() -> list[dict[str, Any]]:
    result = []
    for i, (name, category, brand, vat, cost, price) in enumerate(_PRODUCTS, start=1):
        result.append({
            "sku": f"SKU-{i:04d}",
            "name": name,
            "category": category,
            "brand": brand,
            "vat_rate": vat,
            "purchase_cost": str(Decimal(cost)),
            "sale_price": str(Decimal(price)),
            "barcodes": [ean13(f"594000{i:06d}")],
            **({"points_generated": POINTS_GENERATED[name]} if name in POINTS_GENERATED
               else {}),
        })
    return result


# -- pricing that the tills apply (docs/api.md, policies) --------------------------------------
# By product position in _PRODUCTS (SKU-0001 is the white bread).
MILK = "SKU-0005"
WATER_SMALL = "SKU-0010"
ESPRESSO = "SKU-0016"
CHOCOLATE = "SKU-0019"

# The trade-union card of seeds/004: 5% off everything at partner shops, except cigarettes.
UNION_PROGRAMME = {"code": "union-card", "name": "Union card (members' discount)",
                   "percent": "5"}
UNION_CARDS = {"cards": [{"first": "9640000000000", "last": "9640000099999",
                          "holder": "Trade-union members (printed barcode range)"}]}
UNION_CARD = "9640000012345"  # one member's card, inside the range
VIP_CODE = "#VIP#ANA2026"


def policies(now: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
    """(API collection, body) of the demo's exclusion, sales rule, promotion and VIP card."""
    return [
        ("exclusions", {"code": "no-discount-tobacco", "name": "No discount on tobacco",
                        "target": {"kind": "category", "codes": ["tobacco"]}}),
        ("discount-rules", {"code": "dairy-month", "name": "Dairy month: 10% off dairy",
                            "percent": "10", "target": {"kind": "category",
                                                        "codes": ["dairy"]},
                            "period": {"start": now.isoformat(),
                                       "end": (now + dt.timedelta(days=30)).isoformat()}}),
        ("promotions", {"code": "water-3-for-2", "name": "Mineral water 0.5 l: 3 for 2",
                        "promotion": "quantity", "buy": 2, "get": 1, "percent": "100",
                        "target": {"kind": "product", "codes": [WATER_SMALL]}}),
        ("partner-programmes", UNION_PROGRAMME),
        ("vip-cards", {"code": VIP_CODE, "customer": "Ana Popescu", "percent": "15",
                       "valid_until": (now + dt.timedelta(days=365)).isoformat()}),
    ]


def scheduled_prices(now: dt.datetime) -> list[dict[str, Any]]:
    """A price for one store (market sells espresso cheaper) and two that fall due later:
    the tills switch by themselves at the moment given."""
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    return [
        {"sku": ESPRESSO, "price": "1.30", "scope": "store", "ref": "market"},
        {"sku": MILK, "price": "1.59", "effective_from": tomorrow.isoformat()},
        {"sku": CHOCOLATE, "price": "1.59", "scope": "group", "ref": "kiosks",
         "effective_from": (now + dt.timedelta(minutes=10)).isoformat()},
    ]


# What head office sends to the tills (SPEC S4, S5) and the stores' people counters (S7).
INSTRUCTIONS = [
    {"text": "Check the expiry dates of the yoghurts before 10:00 and put the oldest in front",
     "scroll": True, "groups": ["kiosks"]},
    {"text": "Inventory of the tobacco counter on Sunday evening", "scroll": False,
     "stores": ["market"]},
]
SELLER_MESSAGES = {
    "kiosk-1": "Ask the customer for an e-mail address to send the receipt",
    "market": "Offer the Union card to customers who have none",
}
SURVEY_QUESTIONS = [
    {"code": "heard", "text": "How did you hear about us?",
     "choices": [{"code": "passing", "text": "Passing by"}, {"code": "friend", "text": "A friend"},
                 {"code": "web", "text": "The web"}, {"code": "ad", "text": "An advert"}]},
    {"code": "back", "text": "Will you come back?",
     "choices": [{"code": "yes", "text": "Yes"}, {"code": "maybe", "text": "Maybe"},
                 {"code": "no", "text": "No"}]},
]
SURVEYS = [{"code": "welcome", "name": "Welcome survey", "questions": ["heard", "back"]}]
SURVEY_OF_STORE = {"kiosk-1": "welcome"}
# The people counter at each store's door, played by `tessera agent counter-sim`.
COUNTERS = {"kiosk-1": ("door-1", 12.0, 1), "market": ("entrance", 25.0, 2)}


# -- customers (issue 15): a loyalty profile, head office's questions and alerts, members ----
# The chain's cards: EAN-13 under the profile's prefix, with their check digit.
# The Club's members get 3% off (its discount level, never on tobacco; a partner card's
# better rate replaces it, the two never add up).
LOYALTY_PROFILE = {"code": "club", "description": "Tessera Club", "card_prefix": "2990",
                   "default": True, "discount_percent": "3"}
CUSTOMER_FIELDS = [{"code": "newspaper", "label": "Favourite newspaper", "kind": "choice",
                    "choices": ["Daily", "Weekly", "None"], "position": 1}]
MANDATORY_FIELDS = ["last_name"]
# Giulia (the first card) matches both, in this order; the others match neither.
CUSTOMER_ALERTS = [
    {"code": "sms-consent", "position": 1, "condition": "consent_sms is empty",
     "message": "Ask for consent to SMS offers"},
    {"code": "no-email", "position": 2, "condition": "email is empty",
     "message": "Ask for an e-mail address for the receipts"},
]


def customers() -> list[dict[str, Any]]:
    """The demo's members, each with a Club card (a re-run finds the card taken: 409)."""
    return [
        {"first_name": "Giulia", "last_name": "Bianchi", "mobile": "+393471234501",
         "observation": "Collects the weekly magazine on Fridays: keep one aside",
         "extra.newspaper": "Weekly", "home_store": "kiosk-1",
         "cards": [{"number": club_card(1)}]},
        {"first_name": "Jürgen", "last_name": "Müller", "mobile": "+393471234502",
         "email": "jurgen.muller@example.com", "consent_sms": True,
         "home_store": "market", "cards": [{"number": club_card(2)}]},
        {"first_name": "Ștefan", "last_name": "Popescu", "email": "stefan@example.ro",
         "consent_sms": True, "extra.newspaper": "Daily",
         "cards": [{"number": club_card(3)}]},
    ]


def club_card(serial: int) -> str:
    body = f"{LOYALTY_PROFILE['card_prefix']}{serial:08d}"
    return ean13(body)


# -- The demo's cashiers and customer display content (SPEC S6, S8) -------------------------
# market's till asks for a cashier (codes and PINs are printed in the demo's banner and the
# README); kiosk-1 has none, so the README's curl sales there need no sign-in.
CASHIERS = [
    {"code": "maria", "name": "Maria Rossi", "pin": "2468", "stores": ["market"]},
    {"code": "ion", "name": "Ion Popescu", "pin": "1357", "stores": ["market"]},
]
# Promotional pictures for the kiosks' customer displays: SVG written by the demo at every
# start into var/demo/media and served there by its media server (nothing from the internet).
DISPLAY_GROUP = "kiosks"
DISPLAY_SECONDS = 8
# (file name, headline, second line, background colour): the demo's own pricing.
PROMOTIONS = [
    ("dairy-month.svg", "Dairy month", "10% off milk, butter and yoghurt", "#1565c0"),
    ("water-3-for-2.svg", "Mineral water 0.5 l", "3 for 2", "#00796b"),
]


def promotion_svg(headline: str, line: str, colour: str) -> str:
    """A 1280x720 picture with two lines of text (the texts are the demo's own, no markup)."""
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720" '
            'viewBox="0 0 1280 720">'
            f'<rect width="1280" height="720" fill="{colour}"/>'
            '<g fill="#fff" font-family="DejaVu Sans, sans-serif" text-anchor="middle">'
            f'<text x="640" y="330" font-size="96" font-weight="bold">{headline}</text>'
            f'<text x="640" y="450" font-size="64">{line}</text></g></svg>\n')


def display_items(media_url: str) -> list[dict[str, Any]]:
    """The kiosks group's display content: the pictures at the demo's media server."""
    return [{"kind": "image", "src": f"{media_url}/{name}", "seconds": DISPLAY_SECONDS}
            for name, *_ in PROMOTIONS]
