"""Generate the sample knowledge base for the Intaj RAG demo.

The fictional company is **Northwind Bikes**, an independent bicycle shop in the
(fictional) harbour town of Port Ellery with two locations, a rental fleet and a
repair workshop. The demo chatbot answers its customers' questions.

Running this script (re)creates, in intaj/examples/ (package data: the wheel ships it):

    northwind-handbook.pdf   5-page customer handbook (reportlab, with a text layer)
    northwind-policies.docx  policies + service price table (python-docx)
    northwind-about.html     "About us" web page with nav/header/footer/script boilerplate
    faqs.csv                 question,answer pairs

and, next to itself, README.md: what the files are, plus fixed strings for tests.

The output is deterministic: running it twice gives byte-identical files
(reportlab runs in "invariant" mode, DOCX core properties and zip timestamps are
pinned). After writing, it checks its own outputs with pypdf / python-docx and
fails loudly if a test anchor moved (e.g. the page-2 sentence left page 2).

Usage:  python examples/generate.py
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import sys
import zipfile
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

HERE = Path(__file__).resolve().parent
# The sample knowledge lives in the package, so the wheel ships it for `intaj demo`.
DATA = HERE.parent / "intaj" / "examples"

PDF_NAME = "northwind-handbook.pdf"
DOCX_NAME = "northwind-policies.docx"
HTML_NAME = "northwind-about.html"
CSV_NAME = "faqs.csv"
README_NAME = "README.md"

# --------------------------------------------------------------------------
# Shared facts: every file draws prices, hours and contacts from here, so the
# documents cannot contradict one another.
# --------------------------------------------------------------------------
COMPANY = "Northwind Bikes"
TOWN = "Port Ellery"
DOMAIN = "northwindbikes.example"
EMAIL = f"help@{DOMAIN}"
WORKSHOP_EMAIL = f"workshop@{DOMAIN}"
PHONE = "(555) 014-2290"
ASSIST_PHONE = "(555) 014-2299"
HARBOUR_ADDR = f"214 Harbour Street, {TOWN}"
RIVERSIDE_ADDR = f"58 Mill Lane, {TOWN}"

# Test anchors (quoted verbatim in README.md). Plain ASCII on purpose: no
# apostrophes, dashes or entities that could be normalised differently.
PDF_PAGE2_SENTENCE = (
    "Every returned rental helmet spends ten minutes in a UV cleaning cabinet "
    "before it goes back on the wall."
)
DOCX_TABLE_SENTENCE = (
    "We strip the bike down to the bare frame, clean every part by hand, "
    "and rebuild it with new cables and housing."
)
HTML_MAIN_SENTENCE = (
    "Marta Okafor opened the first Northwind Bikes workshop in a converted "
    "ferry ticket office on Harbour Street in 2009."
)
DOCX_HEADER_TEXT = "NORTHWIND BIKES POLICY MANUAL - REVISION 2024-03 - STAFF COPY"
DOCX_FOOTER_TEXT = "Uncontrolled when printed. Report errors to policy-desk@northwindbikes.example"
DEMO_QUESTION = "How much extra will I pay if I bring my rented e-bike back one hour late?"
DEMO_ANSWER = (
    "$30: e-bike late returns cost $15 for every started 30 minutes, so one hour "
    "is two periods (capped at the $55 full-day e-bike rate)."
)
FAQ_QUESTION = "Can I cancel my rental booking and get a refund?"
FAQ_PARAPHRASE = "If I call off my bike hire reservation, do I get my money back?"

FIXED_DATE = dt.datetime(2024, 3, 1, 9, 0, 0)


def _t(s: str) -> str:
    """Escape text for a reportlab Paragraph (which parses a little XML)."""
    return html.escape(s, quote=False)


# ==========================================================================
# 1. PDF handbook
# ==========================================================================
def _pdf_pages() -> list[list[tuple[str, str]]]:
    """Each page: a list of (kind, text); kind is h1 / h2 / p / table:<id>."""
    p1 = [
        ("h1", "Welcome to Northwind Bikes"),
        (
            "p",
            "This handbook explains how renting, buying and servicing a bike with "
            "Northwind Bikes works. It is written for customers, and our own staff "
            "use the same document at the counter, so what you read here is what we "
            "will tell you in the shop. If anything in this handbook differs from a "
            "sign in the shop or a page on our website, tell us: we will honour "
            "whichever version is better for you and fix the other one.",
        ),
        (
            "p",
            f"Northwind Bikes is an independent bicycle shop in {TOWN}. We have sold, "
            "rented and repaired bikes on the waterfront since 2009. Today we run two "
            "shops, a workshop team of seven mechanics and a rental fleet of about 140 "
            "bikes, including 20 electric bikes. All prices in this handbook are in US "
            "dollars and include sales tax.",
        ),
        ("h2", "Our two locations"),
        (
            "p",
            f"Harbour Street is our flagship shop at {HARBOUR_ADDR}, opposite the "
            "ferry terminal. It handles sales, rentals, guided tours and the full "
            "workshop, including our dedicated e-bike bench. Customers can park bikes "
            "in the covered rack by the door. The nearest car park is the Quayside "
            "multi-storey, a three-minute walk away; ask at the counter for a stamp "
            "that gives you the first hour free.",
        ),
        (
            "p",
            f"Riverside is our smaller shop at {RIVERSIDE_ADDR}, right next to the "
            "Mill Lane entrance of the River Path. It handles rentals, accessories and "
            "light repairs: Safety Checks, flat repairs and Standard Tune-Ups. Adaptive "
            "trikes and hand cycles are kept at Riverside and can be booked by phone. "
            "Full Services and E-Bike Services dropped off at Riverside travel to the "
            "Harbour Street workshop in our van each morning, which adds one working "
            "day to the usual turnaround.",
        ),
        ("h2", "Opening hours"),
        (
            "p",
            "Harbour Street is open Monday to Friday from 8:00 a.m. to 7:00 p.m., "
            "Saturday from 9:00 a.m. to 6:00 p.m. and Sunday from 10:00 a.m. to "
            "4:00 p.m. Riverside is open Tuesday to Saturday from 10:00 a.m. to "
            "6:00 p.m. and Sunday from 10:00 a.m. to 4:00 p.m.; it is closed on "
            "Mondays. On public holidays Harbour Street opens from 10:00 a.m. to "
            "4:00 p.m. and Riverside stays closed. Both shops are closed on "
            "25 December and 1 January.",
        ),
        (
            "p",
            "The workshop counter stops taking drop-offs 30 minutes before closing "
            "time, and the last rental of the day leaves one hour before closing.",
        ),
        ("h2", "How to reach us"),
        (
            "p",
            f"Call {PHONE} during Harbour Street opening hours, or email {EMAIL}; we "
            "answer email within one working day. Workshop questions can go straight "
            f"to {WORKSHOP_EMAIL}. If something goes wrong while you are out on a "
            f"rental bike, use the rental assistance line, {ASSIST_PHONE}. It is "
            "answered from 8:00 a.m. to 7:00 p.m. every day from April to October, and "
            "during Harbour Street opening hours for the rest of the year.",
        ),
    ]
    p2 = [
        ("h1", "Renting a Bike"),
        (
            "p",
            "Our rental fleet is maintained in our own workshop and every bike is "
            "checked before each hire. You can book online at "
            f"{DOMAIN}/rent, by phone, or simply walk in. Walk-ins are welcome "
            "whenever bikes are available, but on summer weekends we recommend booking "
            "at least 48 hours ahead, and e-bikes sell out first.",
        ),
        ("h2", "The fleet and prices"),
        (
            "p",
            "The Northwind Commuter is a seven-speed city bike with mudguards, a "
            "basket and lights. The Trail Hybrid has wider tyres and 21 gears for the "
            "gravel sections of the coast path. The Velora e-City is a pedal-assist "
            "e-bike with a range of about 80 km on a full battery. We also rent "
            "tandems and kids bikes with 20 inch and 24 inch wheels.",
        ),
        ("table:rental_prices", ""),
        (
            "p",
            "A half-day is four hours from pick-up. A full day runs until closing "
            "time of the shop you rented from. A week is seven days, returned by "
            "closing time on the seventh day. Add-ons are charged per day: child seat "
            "$6, child trailer $10, pannier bags $5 and the optional damage waiver $5.",
        ),
        ("h2", "Who can rent and what to bring"),
        (
            "p",
            "The person signing the rental agreement must be 18 or older and show "
            "photo ID and a credit or debit card in their own name. Riders aged 14 to "
            "17 can rent an adult bike if a parent or guardian signs the agreement in "
            "the shop. Kids bikes for riders under 14 are only rented together with "
            "a bike for an accompanying adult.",
        ),
        ("h2", "Helmets, locks and accessories"),
        (
            "p",
            "A helmet and a D-lock are included free with every rental, and lights are "
            "fitted to every bike. We stock helmets in five sizes, including toddler "
            f"sizes for the child seat. {PDF_PAGE2_SENTENCE} If you prefer your own "
            "helmet, you are welcome to bring it.",
        ),
        ("h2", "Deposits"),
        (
            "p",
            "We place a pre-authorisation hold on your card when you collect the bike: "
            "$150 for standard bikes, $200 for tandems and $300 for e-bikes. Nothing is "
            "charged unless fees are due. We release the hold as soon as the bike is "
            "checked back in, although some banks take up to five business days to "
            "show the released amount.",
        ),
    ]
    p3 = [
        ("h1", "During and After Your Rental"),
        ("h2", "Returning your bike"),
        (
            "p",
            "You can return a rental bike to either shop, whichever is more convenient, "
            "at no extra charge. Please check the Riverside opening hours first: it is "
            "closed on Mondays, and there is no drop box. When you return the bike, a "
            "member of staff checks it with you and closes the rental on the spot, so "
            "you leave knowing exactly what, if anything, you owe.",
        ),
        ("h2", "Late returns"),
        (
            "p",
            "If you need more time, call us before your rental ends and we will extend "
            "it at the normal rate when the bike is not already booked. Bikes returned "
            "late without an extension are charged a late fee for every started 30 "
            "minutes: $8 per period for standard bikes, tandems and kids bikes, and $15 "
            "per period for e-bikes. The total late fee is capped at one extra full-day "
            "rate for that bike. For example, a Northwind Commuter returned 50 minutes "
            "late is charged two periods, which is $16.",
        ),
        (
            "p",
            "A bike that has not been returned or reported within 24 hours of the end "
            "of the rental is treated as missing. We will try to reach you by phone and "
            "email first, and then report it to the police.",
        ),
        ("h2", "Breakdowns and flat tyres"),
        (
            "p",
            f"If your bike breaks down or gets a flat, call the assistance line on "
            f"{ASSIST_PHONE}. Within 10 km of either shop we bring a replacement bike "
            "within 60 minutes at no charge. Further out, we will talk you through a "
            "roadside fix or arrange a meeting point. Please do not pay another shop "
            "for repairs to a rental bike, as we cannot refund them.",
        ),
        ("h2", "Damage, loss and theft"),
        (
            "p",
            "Normal wear and tear is never charged. For accidental damage, the optional "
            "damage waiver at $5 per day limits what you pay to $50 per incident. "
            "Without the waiver you pay the repair cost at workshop rates, up to the "
            "replacement value of the bike. Always lock the bike to a fixed object with "
            "the D-lock we supply. If it is stolen, report the theft to the police "
            "within 24 hours and give us the report number. With the waiver your theft "
            "excess is $250 for a standard bike or $600 for an e-bike. The full rules "
            "are in our Customer Policies document.",
        ),
        ("h2", "Riding rules"),
        (
            "p",
            "The River Path has a speed limit of 15 km/h, and e-bikes must be ridden "
            "with pedal assist only on the Beach Promenade. Bikes may not be taken on "
            "the sand, raced, or used to carry more than one person unless they are "
            "tandems. Switch on your lights from dusk, and keep to the left when "
            "passing walkers on shared paths.",
        ),
    ]
    p4 = [
        ("h1", "Workshop and Repairs"),
        (
            "p",
            "Our workshop services any make of bicycle, wherever you bought it. The one "
            "exception is e-bikes fitted with aftermarket conversion kits: for safety "
            "and insurance reasons we cannot work on them. We do service factory-built "
            "e-bikes with Bosch, Shimano STEPS, Brose and Bafang mid-drive systems.",
        ),
        ("h2", "Booking a service"),
        (
            "p",
            f"Book online at {DOMAIN}/workshop, call {PHONE}, or walk in. Safety "
            "Checks and flat repairs are done while you wait whenever a mechanic is "
            "free. For longer jobs, the next free drop-off slot is usually two to four "
            "working days away in summer and one to two days in winter. Northwind Club "
            "members get a priority slot within three working days all year round.",
        ),
        ("h2", "Service menu at a glance"),
        (
            "p",
            "A Safety Check costs $25. A flat repair costs $15 plus the inner tube. A "
            "Standard Tune-Up costs $65 and takes about two working days. A Full Service "
            "costs $140 and takes three to four working days. An E-Bike Service costs "
            "$160 and takes three to five working days. Wheel truing is $20 per wheel. "
            "For $25 extra, our express option finishes a Wheel True or Standard "
            "Tune-Up the same day if you drop the bike off at Harbour Street before "
            "11:00 a.m. The full service descriptions are in our Customer Policies "
            "document.",
        ),
        ("h2", "Estimates and approval"),
        (
            "p",
            "Every job starts with a free written estimate. Work outside a fixed-price "
            "service is charged at $60 per hour in 15-minute increments, plus parts. If "
            "we find something that would raise the bill by more than $30 over the "
            "estimate, we call or text you and wait for your approval before doing it. "
            "You are welcome to bring your own parts; we will fit them, but our "
            "guarantee then covers the labour only, not the part.",
        ),
        ("h2", "Collection and storage"),
        (
            "p",
            "We send a text message as soon as your bike is ready. Bikes can be stored "
            "free of charge for 14 days after that message. From day 15 we charge a "
            "storage fee of $5 per day. If a bike is still uncollected after 90 days "
            "and three attempts to contact you, we may sell it to cover the bill, as "
            "allowed by local law.",
        ),
        ("h2", "E-bike batteries"),
        (
            "p",
            "Every E-Bike Service includes a battery health report. If a battery is "
            "still under the manufacturer warranty and fails the test, we send it to "
            "the manufacturer for you; this usually takes two to three weeks, and we "
            "can lend you a spare battery for compatible Bosch and Shimano systems in "
            "the meantime. We do not accept loose batteries for disposal unless they "
            "came from a bike we sold or serviced.",
        ),
    ]
    p5 = [
        ("h1", "Membership, Tours and Extras"),
        ("h2", "The Northwind Club"),
        (
            "p",
            "The Northwind Club costs $49 a year and pays for itself quickly if you "
            "ride often. Members get 15% off all rentals, 10% off parts and "
            "accessories, a free Safety Check every quarter, and a priority workshop "
            "slot within three working days. Membership starts on the day you join and "
            "is linked to one named person; it cannot be shared. Sign up at either shop "
            "or online.",
        ),
        ("h2", "Guided tours"),
        (
            "p",
            "The Harbour Loop is a relaxed 2.5-hour ride around the old docks and the "
            "lighthouse breakwater. It leaves Harbour Street every Saturday at 10:00 "
            "a.m. from April to October and costs $45 per person, bike and helmet "
            "included. The Lighthouse Ride is a four-hour e-bike tour along the coast "
            "to Cape Merrow, leaving Sundays at 9:30 a.m., for $79 per person. Tours "
            "need at least three riders; if too few people book, we offer a free move "
            "to another date or a full refund. Private group tours can be arranged "
            "for six or more riders.",
        ),
        ("h2", "Maintenance classes"),
        (
            "p",
            "Fix a Flat is a one-hour class for beginners held on the first Tuesday "
            "of every month at 6:30 p.m. at Harbour Street. It costs $20, and you keep "
            "the tyre levers. Know Your Bike is a three-hour Saturday morning workshop "
            "covering brakes, gears and chain care for $55. Places are limited to eight "
            "people so everyone gets hands-on time.",
        ),
        ("h2", "Gift cards"),
        (
            "p",
            "Gift cards are available in any amount from $20 to $500, in store or as an "
            "e-card by email. They are valid for three years from the date of purchase "
            "and can be spent on rentals, tours, classes, servicing and anything in the "
            "shop, at both locations. Gift cards cannot be exchanged for cash.",
        ),
        ("h2", "Buying a new bike"),
        (
            "p",
            "Every new bike includes a free professional fit and a free Safety Check "
            "within 60 days of purchase, which is when new cables usually stretch and "
            "gears need a small adjustment. We also take trade-ins: bring your old bike "
            "and we will give you a written offer, valid for 14 days, that you can put "
            "towards a new one. Our return and price-match rules are set out in the "
            "Customer Policies document.",
        ),
        ("p", "Thank you for riding with us. See you on the waterfront."),
    ]
    return [p1, p2, p3, p4, p5]


RENTAL_PRICES = [
    ["Bike", "Half-day (4 h)", "Full day", "Week"],
    ["Northwind Commuter (city)", "$18", "$28", "$110"],
    ["Trail Hybrid", "$24", "$36", "$140"],
    ["Velora e-City (e-bike)", "$35", "$55", "$220"],
    ["Tandem", "$30", "$45", "$170"],
    ["Kids bike (20 or 24 inch)", "$10", "$15", "$55"],
]


def build_pdf(path: Path) -> None:
    styles = getSampleStyleSheet()
    body = ParagraphStyle(
        "Body",
        parent=styles["BodyText"],
        fontName="Helvetica",
        fontSize=10,
        leading=14,
        spaceAfter=6,
    )
    h1 = ParagraphStyle(
        "H1",
        parent=styles["Heading1"],
        fontName="Helvetica-Bold",
        fontSize=18,
        leading=22,
        spaceAfter=8,
        textColor=colors.HexColor("#1F4E79"),
    )
    h2 = ParagraphStyle(
        "H2",
        parent=styles["Heading2"],
        fontName="Helvetica-Bold",
        fontSize=12,
        leading=15,
        spaceBefore=6,
        spaceAfter=4,
        textColor=colors.HexColor("#1F4E79"),
    )
    title = ParagraphStyle(
        "Title",
        parent=h1,
        fontSize=24,
        leading=28,
        alignment=TA_CENTER,
    )
    tables = {"rental_prices": RENTAL_PRICES}

    story: list = [
        Paragraph("Northwind Bikes Customer Handbook", title),
        Paragraph(
            "Rentals, repairs and everything in between. 2024 edition.",
            ParagraphStyle("Sub", parent=body, alignment=TA_CENTER),
        ),
        Spacer(1, 10),
    ]
    pages = _pdf_pages()
    for i, page in enumerate(pages):
        for kind, text in page:
            if kind == "h1":
                story.append(Paragraph(_t(text), h1))
            elif kind == "h2":
                story.append(Paragraph(_t(text), h2))
            elif kind == "p":
                story.append(Paragraph(_t(text), body))
            elif kind.startswith("table:"):
                data = tables[kind.split(":", 1)[1]]
                t = Table(
                    data, colWidths=[2.3 * inch, 1.3 * inch, 1.1 * inch, 1.0 * inch], hAlign="LEFT"
                )
                t.setStyle(
                    TableStyle(
                        [
                            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 9.5),
                            ("FONT", (0, 1), (-1, -1), "Helvetica", 9.5),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DCE6F1")),
                            ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#7F7F7F")),
                            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                        ]
                    )
                )
                story += [t, Spacer(1, 8)]
        if i < len(pages) - 1:
            story.append(PageBreak())

    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#7F7F7F"))
        canvas.drawString(inch, LETTER[1] - 0.6 * inch, "Northwind Bikes - Customer Handbook")
        canvas.drawRightString(LETTER[0] - inch, 0.55 * inch, f"Page {doc.page} of {len(pages)}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=LETTER,
        leftMargin=inch,
        rightMargin=inch,
        topMargin=0.85 * inch,
        bottomMargin=0.85 * inch,
        title="Northwind Bikes Customer Handbook",
        author=COMPANY,
        subject="Rentals, repairs, memberships and tours",
        creator="examples/generate.py",
        invariant=1,
    )
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)


# ==========================================================================
# 2. DOCX policies
# ==========================================================================
SERVICE_TABLE = [
    ["Service", "Price", "What is included", "Typical turnaround"],
    [
        "Safety Check",
        "$25",
        "Brakes, tyres, chain and every bolt inspected, with an honest verdict on "
        "whether the bike is safe to ride.",
        "30 minutes, while you wait",
    ],
    [
        "Flat Repair",
        "$15 + tube ($8, tubeless sealant $12)",
        "New inner tube or tubeless plug, tyre checked for glass and thorns, pressure set.",
        "20 minutes, while you wait",
    ],
    [
        "Wheel True",
        "$20 per wheel",
        "Spoke tension balanced and wobble removed on the truing stand.",
        "Same day",
    ],
    [
        "Standard Tune-Up",
        "$65",
        "Both wheels trued, brakes and gears adjusted, drivetrain cleaned and lubricated.",
        "2 working days",
    ],
    ["Full Service", "$140", DOCX_TABLE_SENTENCE, "3 to 4 working days"],
    [
        "E-Bike Service",
        "$160",
        "Standard Tune-Up plus motor firmware update, battery health report and "
        "torque check of the motor mounts.",
        "3 to 5 working days",
    ],
    [
        "Express surcharge",
        "+$25",
        "A Wheel True or Standard Tune-Up finished the same day when dropped off at "
        "Harbour Street before 11:00 a.m.",
        "Same day",
    ],
]

REPLACEMENT_VALUES = [
    ("Northwind Commuter", "$650"),
    ("Trail Hybrid", "$900"),
    ("Tandem", "$1,400"),
    ("Velora e-City (e-bike)", "$2,400"),
    ("Kids bike", "$300"),
]


def _pin_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed timestamps so the DOCX is byte-reproducible."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(2024, 3, 1, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, src.read(info.filename))
    return out.getvalue()


def build_docx(path: Path) -> None:
    d = Document()
    normal = d.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)

    cp = d.core_properties
    cp.title = "Northwind Bikes Customer Policies"
    cp.author = COMPANY
    cp.last_modified_by = COMPANY
    cp.subject = "Returns, rentals, damage, workshop pricing and privacy"
    cp.keywords = "policies, rentals, returns, workshop, privacy"
    cp.created = FIXED_DATE
    cp.modified = FIXED_DATE
    cp.last_printed = FIXED_DATE
    cp.revision = 3
    cp.comments = ""

    sec = d.sections[0]
    hp = sec.header.paragraphs[0]
    hp.text = DOCX_HEADER_TEXT
    hp.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    fp = sec.footer.paragraphs[0]
    fp.text = DOCX_FOOTER_TEXT
    fp.alignment = WD_ALIGN_PARAGRAPH.CENTER

    d.add_paragraph("Northwind Bikes Customer Policies", style="Title")
    d.add_paragraph(
        "These policies apply at both of our shops, Harbour Street and Riverside, and "
        "to bookings made online. They were last reviewed in March 2024. Where this "
        "document and the Customer Handbook cover the same topic, they say the same "
        "thing; this document simply goes into more detail."
    )

    # ---- Purchases
    d.add_heading("Purchases, Returns and Refunds", level=1)
    d.add_heading("Returning a new bike", level=2)
    d.add_paragraph(
        "You can return a new bike within 30 days of purchase for a full refund, as "
        "long as it has been ridden less than 50 km and is in resaleable condition, "
        "with no scratches on the frame and no parts changed. Please bring your "
        "receipt or the order number from your confirmation email. If the bike has "
        "been ridden further or shows wear, we will offer store credit instead, "
        "after an inspection by the workshop manager."
    )
    d.add_heading("Returning accessories and clothing", level=2)
    d.add_paragraph(
        "Accessories and clothing can be returned within 30 days if they are unused "
        "and in their original packaging. Refunds go back to the original payment "
        "method and usually appear within 5 to 7 business days. Purchases paid for "
        "with a gift card are refunded to a new gift card."
    )
    d.add_paragraph("The following items cannot be returned unless they are faulty:")
    for item in [
        "Helmets that have been worn or had their tags removed, for safety reasons.",
        "Custom-built wheels and bikes built to your own specification.",
        "Inner tubes, brake pads and other parts once they have been fitted.",
        "Opened lubricants, sealants and cleaning products.",
        "Gift cards and Northwind Club memberships after the first 14 days.",
        "Clearance items marked as final sale.",
    ]:
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("Price match", level=2)
    d.add_paragraph(
        "If you find the identical item in stock at a lower price in another shop in "
        f"{TOWN} within 14 days of buying it from us, we will refund the difference. "
        "The price match does not cover online marketplaces, auction sites, "
        "clearance sales or second-hand items."
    )

    # ---- Rentals
    d.add_heading("Rental Bookings and Cancellations", level=1)
    d.add_heading("Cancelling or changing a booking", level=2)
    d.add_paragraph(
        "You can cancel or change a rental booking free of charge up to 24 hours "
        "before the start time. Cancellations made less than 24 hours before the start "
        "are charged 50% of the rental price. If you do not turn up and do not cancel, "
        "the full rental price is charged. Group bookings of six or more bikes need "
        "72 hours of notice for a free cancellation."
    )
    d.add_paragraph(
        f"If the weather service issues a severe weather warning for {TOWN} on the day "
        "of your rental or tour, you can move the booking to another date or cancel "
        "it for a full refund, even on the day itself."
    )
    d.add_heading("Deposits and payment", level=2)
    d.add_paragraph(
        "Rentals are paid in full when you collect the bike. We also place a "
        "pre-authorisation hold on your card: $150 for standard bikes, $200 for tandems "
        "and $300 for e-bikes. The hold is released when the bike is checked back in. "
        "We accept all major credit and debit cards and contactless payments, but not "
        "cash for deposits."
    )

    # ---- Damage
    d.add_heading("Damage, Loss and Theft", level=1)
    d.add_heading("The damage waiver", level=2)
    d.add_paragraph(
        "The optional damage waiver costs $5 per bike per day. With the waiver, the "
        "most you pay for accidental damage is $50 per incident, and the theft excess "
        "is $250 for a standard bike or $600 for an e-bike. The waiver does not cover "
        "damage caused on purpose, riding on the beach sand, racing, or carrying more "
        "than one person on a bike that is not a tandem."
    )
    d.add_heading("Without the waiver", level=2)
    d.add_paragraph(
        "Without the waiver you pay for repairs at our normal workshop rates, up to the "
        "replacement value of the bike. If a bike is stolen or lost, you pay its full "
        "replacement value. Current replacement values are: "
        + "; ".join(f"{name} {value}" for name, value in REPLACEMENT_VALUES)
        + "."
    )
    d.add_heading("Reporting a theft", level=2)
    d.add_paragraph(
        "Rental bikes must be locked to a fixed object with the D-lock we supply. If a "
        "bike is stolen, report it to the police within 24 hours and send us the police "
        f"report number by email to {EMAIL}, together with the lock key. Without a "
        "police report number, the theft excess does not apply and the full "
        "replacement value is charged."
    )

    # ---- Workshop
    d.add_heading("Workshop Services and Pricing", level=1)
    d.add_heading("Service menu", level=2)
    d.add_paragraph(
        "Prices below are fixed and include labour. Parts such as cables, chains and "
        "brake pads are charged separately unless the description says otherwise. "
        "Other work is charged at $60 per hour in 15-minute increments."
    )
    table = d.add_table(rows=0, cols=len(SERVICE_TABLE[0]))
    table.style = "Table Grid"
    for r, row in enumerate(SERVICE_TABLE):
        cells = table.add_row().cells
        for c, value in enumerate(row):
            cells[c].text = value
            if r == 0:
                for run in cells[c].paragraphs[0].runs:
                    run.bold = True
    d.add_paragraph()
    d.add_heading("Workshop guarantee", level=2)
    d.add_paragraph(
        "All workshop labour is guaranteed for 30 days. If something we adjusted needs "
        "re-adjusting within that time, bring the bike back and we will fix it free of "
        "charge. New parts carry the manufacturer warranty. When you supply your own "
        "parts, the guarantee covers our labour only."
    )
    d.add_heading("Collection and storage", level=2)
    d.add_paragraph(
        "Finished bikes are stored free for 14 days after we tell you they are ready. "
        "After that, storage costs $5 per day."
    )

    # ---- Privacy
    d.add_heading("Privacy and Communications", level=1)
    d.add_heading("What we keep", level=2)
    d.add_paragraph(
        "For rentals we record your name, phone number, email address and the last "
        "four digits of your photo ID. We never keep a photocopy or scan of your ID. "
        "Rental records are kept for two years for insurance purposes and then deleted."
    )
    d.add_heading("Marketing and your rights", level=2)
    d.add_paragraph(
        "We only send newsletters if you opt in, and every email has an unsubscribe "
        f"link. To see or delete the data we hold about you, email {EMAIL}; we "
        "respond to every request within 30 days."
    )

    buf = io.BytesIO()
    d.save(buf)
    path.write_bytes(_pin_zip(buf.getvalue()))


# ==========================================================================
# 3. HTML about page
# ==========================================================================
def build_html(path: Path) -> None:
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>About Us | Northwind Bikes, {TOWN}</title>
  <meta name="description" content="Independent bike shop in {TOWN}: rentals, repairs, tours and e-bikes since 2009.">
  <link rel="stylesheet" href="/assets/site.css">
  <style>
    body {{ font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; }}
    nav ul {{ display: flex; gap: 1rem; list-style: none; }}
    main {{ max-width: 46rem; margin: 0 auto; padding: 1rem; }}
    .cookie-banner {{ position: fixed; bottom: 0; background: #1f4e79; color: #fff; }}
  </style>
</head>
<body>
  <nav aria-label="Main menu">
    <ul>
      <li><a href="/">Home</a></li>
      <li><a href="/rent">Rentals</a></li>
      <li><a href="/workshop">Workshop</a></li>
      <li><a href="/tours">Tours</a></li>
      <li><a href="/shop">Shop</a></li>
      <li><a href="/about" aria-current="page">About us</a></li>
      <li><a href="/contact">Contact</a></li>
    </ul>
  </nav>
  <header>
    <a class="logo" href="/">Northwind Bikes</a>
    <p class="tagline">Ride the waterfront. Since 2009.</p>
    <a class="button" href="/rent">Book a bike</a>
  </header>
  <main>
    <h1>About Northwind Bikes</h1>
    <p>We are an independent, family-run bicycle shop in {TOWN}. We rent, sell and
    repair bikes for commuters, families, visitors and anyone who just wants to
    get out along the coast.</p>

    <h2>Our story</h2>
    <p>{HTML_MAIN_SENTENCE} She had two rental bikes, one workstand and a kettle.
    Cyclists waiting for the ferry started dropping in for quick fixes, and within a
    year the ticket office had become a proper shop.</p>
    <p>In 2016 we opened our second shop on Mill Lane, right on the River Path, so
    families could pick up bikes next to the traffic-free trail. Marta still works
    the Saturday shift at Harbour Street, usually with a spanner in her hand.</p>

    <h2>What we do</h2>
    <p>Our rental fleet of about 140 bikes includes city bikes, trail hybrids,
    tandems, kids bikes and 20 Velora e-City e-bikes. Our seven mechanics service
    every make of bike, from school bikes to carbon road bikes and factory-built
    e-bikes. On weekends from April to October we lead guided tours to the lighthouse
    breakwater and along the coast to Cape Merrow.</p>

    <h2>Meet the team</h2>
    <p>Dev Raman runs the Harbour Street workshop and is a certified Bosch and Shimano
    STEPS e-bike technician. Lucia Brandt manages rentals and tours and knows every
    cafe on the coast path. Tom Achterberg looks after the Riverside shop and our
    fleet of adaptive trikes and hand cycles, which anyone can book by phone.</p>

    <h2>Riding greener</h2>
    <p>Our workshop van is electric, our Harbour Street roof carries 36 solar panels,
    and we recycle every used inner tube through a local maker who turns them into
    bags and belts. Worn-out rental bikes are rebuilt by apprentices and donated to
    the Port Ellery Youth Cycling Project.</p>

    <h2>Community rides</h2>
    <p>Every Saturday at 8:00 a.m. a free, no-drop group ride of about 30 km leaves
    from Harbour Street and finishes back at the shop for coffee. Everyone is
    welcome, and you can borrow a Commuter for free if you do not have a bike.</p>

    <h2>Find us</h2>
    <p>Harbour Street: {HARBOUR_ADDR}, opposite the ferry terminal. Riverside:
    {RIVERSIDE_ADDR}, at the Mill Lane entrance of the River Path. Call us on
    {PHONE} or email <a href="mailto:{EMAIL}">{EMAIL}</a>.</p>
  </main>
  <footer>
    <p>&copy; 2024 Northwind Bikes Ltd. All rights reserved.</p>
    <p><a href="/privacy">Privacy</a> | <a href="/terms">Terms of hire</a> |
    <a href="/careers">Careers</a> | Follow us @northwindbikes</p>
  </footer>
  <div class="cookie-banner" id="cookie-banner">We use cookies to remember your
  bookings. <button type="button" id="cookie-ok">OK</button></div>
  <script>
    window.dataLayer = window.dataLayer || [];
    function gtag() {{ dataLayer.push(arguments); }}
    gtag("js", new Date());
    gtag("config", "G-NWB0000000");
    document.getElementById("cookie-ok").addEventListener("click", function () {{
      document.getElementById("cookie-banner").remove();
      localStorage.setItem("nwb-cookies", "ok");
    }});
  </script>
</body>
</html>
"""
    path.write_text(page, encoding="utf-8", newline="\n")


# ==========================================================================
# 4. FAQ CSV
# ==========================================================================
FAQS = [
    (
        "What time do you open on Sundays?",
        "Both shops, Harbour Street and Riverside, are open from 10:00 a.m. to 4:00 p.m. "
        "on Sundays.",
    ),
    (
        "Do I have to reserve a rental bike ahead of time?",
        f"Walk-ins are welcome when bikes are available, but we recommend booking online "
        f"at {DOMAIN}/rent at least 48 hours ahead for summer weekends. E-bikes go first, "
        "as we only have 20 of them.",
    ),
    (
        "How much is a full-day e-bike rental?",
        "A Velora e-City e-bike costs $55 for a full day (until closing time), $35 for a "
        "half-day of four hours, or $220 for a week.",
    ),
    (
        FAQ_QUESTION,
        "Yes. Cancel at least 24 hours before your start time and you pay nothing. "
        "Cancellations within 24 hours are charged 50% of the rental price, and no-shows "
        "pay in full. If a severe weather warning is issued for Port Ellery, you can "
        "cancel or move the booking free of charge.",
    ),
    (
        "Are helmets included when I rent?",
        "Yes, every rental comes with a free helmet and a D-lock. Child seats, trailers "
        "and pannier bags can be added for a small daily fee.",
    ),
    (
        "How old do I have to be to rent a bike?",
        "The renter must be 18 or older with photo ID and a payment card. Riders aged 14 "
        "to 17 can rent if a parent or guardian signs the agreement in the shop.",
    ),
    (
        "Will you repair a bike I bought somewhere else?",
        "Yes, we service every make of bike, wherever it was bought. The only exception is "
        "e-bikes with aftermarket conversion kits, which we cannot work on.",
    ),
    (
        "How long does a tune-up take?",
        "A Standard Tune-Up ($65) usually takes two working days. For $25 extra we can "
        "finish it the same day if you drop the bike at Harbour Street before 11:00 a.m.",
    ),
    (
        "Can I return a new bike if I change my mind?",
        "Yes, within 30 days of purchase if it has been ridden less than 50 km and is in "
        "resaleable condition. Bring your receipt; the refund goes back to your original "
        "payment method within 5 to 7 business days.",
    ),
    (
        "What do I get with a Northwind Club membership?",
        "For $49 a year you get 15% off rentals, 10% off parts and accessories, a free "
        "Safety Check every quarter and a priority workshop slot within three working days.",
    ),
    (
        "Do you sell gift cards?",
        "Yes, for any amount from $20 to $500, in store or as an e-card. They are valid for "
        "three years and can be used for rentals, tours, classes, servicing and purchases "
        "at both shops.",
    ),
    (
        "What should I do if my rental bike gets a flat tyre?",
        f"Call the rental assistance line on {ASSIST_PHONE}. Within 10 km of either shop we "
        "bring you a replacement bike within 60 minutes at no charge.",
    ),
]


def build_csv(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["question", "answer"])
        w.writerows(FAQS)


# ==========================================================================
# 5. README
# ==========================================================================
def build_readme(path: Path) -> None:
    text = f"""# Sample knowledge base: Northwind Bikes

Demo content for an Intaj customer-support chatbot. **Northwind Bikes** is a
fictional independent bicycle shop in the fictional harbour town of {TOWN}:
two shops (Harbour Street and Riverside), a rental fleet of about 140 bikes
(20 e-bikes), a repair workshop, guided tours and a membership club. All names,
addresses, phone numbers (555-01xx) and the `.example` domain are invented.

The files live in [`intaj/examples/`](../intaj/examples/), inside the package,
so they ship in the wheel and `intaj demo` works after a `pip install`. Every
file there but `demo-question.txt` is generated by `generate.py`; do not edit
them by hand. To rebuild (output is byte-for-byte deterministic, and the script
re-checks the anchors below):

```sh
. .venv/bin/activate
python examples/generate.py
```

| File | Format | Contents |
|---|---|---|
| `{PDF_NAME}` | PDF, 5 pages, text layer, made with reportlab | Customer handbook. p1 welcome, locations, opening hours, contacts; p2 renting (fleet, price table, age/ID rules, helmets, deposits); p3 during/after a rental (returns, late fees, breakdowns, damage, riding rules); p4 workshop (booking, service prices, estimates, storage, e-bike batteries); p5 club membership, tours, classes, gift cards, buying a bike. A running header and "Page N of 5" footer are drawn on every page. |
| `{DOCX_NAME}` | DOCX (python-docx) | Customer policies: returns and refunds (with a bulleted list of non-returnable items), price match, rental cancellation, deposits, damage waiver and theft, workshop service menu (a 4-column x 8-row table), guarantee, privacy. Uses Title, Heading 1 and Heading 2 styles. Has a page header and footer that a parser should drop. |
| `{HTML_NAME}` | HTML | "About us" page. Real content is in `<main>` (h1 + h2 sections). `<nav>`, `<header>`, `<footer>`, a cookie banner, `<style>` and `<script>` are boilerplate to strip. |
| `{CSV_NAME}` | CSV, header `question,answer` | {len(FAQS)} FAQs, consistent with the documents but worded differently. |

Prices, hours and policies are shared constants in `generate.py`, so the files
agree with each other (e.g. the $55 e-bike day rate appears in the PDF and the FAQ).

## Fixed strings for tests

Plain ASCII, no hyphenation. Compare after whitespace normalisation
(`" ".join(text.split())`). This README, which also contains them, and
`generate.py` stay out of the package folder.

**(a) Only on page 2 of the PDF** (pypdf page index 1; also not in any other file):

> {PDF_PAGE2_SENTENCE}

**(b) Only in a DOCX table cell** (service menu table, row "Full Service",
column "What is included"; not in any body paragraph):

> {DOCX_TABLE_SENTENCE}

**(c) From a paragraph in the HTML `<main>`** (section "Our story"):

> {HTML_MAIN_SENTENCE}

DOCX header / footer text, which should **not** appear in parsed DOCX output:

> {DOCX_HEADER_TEXT}
>
> {DOCX_FOOTER_TEXT}

HTML boilerplate that should **not** appear in parsed HTML output: the cookie
banner text "We use cookies to remember your bookings", the footer text
"All rights reserved", and the script identifier `G-NWB0000000`.

**(d) Demo question** (not an FAQ; needs a small calculation):

> {DEMO_QUESTION}

Expected answer: {DEMO_ANSWER} Source: `{PDF_NAME}`, page 3 (index 2), section
"Late returns". The e-bike day rate ($55) is in the price table on page 2.

Other good demo questions: "Can I drop my rental bike at the other shop?"
(PDF p3, "Returning your bike": yes, either shop, no charge, but Riverside is
closed Mondays); "What does a Full Service cost and how long does it take?"
(DOCX service table: $140, 3 to 4 working days; PDF p4); "Who started
Northwind Bikes?" (HTML, "Our story").

**(e) An FAQ question and a paraphrase of it** (should retrieve the same row):

- FAQ: {FAQ_QUESTION}
- Paraphrase: {FAQ_PARAPHRASE}
"""
    path.write_text(text, encoding="utf-8", newline="\n")


# ==========================================================================
# Self-check
# ==========================================================================
def _norm(s: str) -> str:
    return " ".join(s.split())


def verify(out: Path) -> None:
    from bs4 import BeautifulSoup  # project dependency
    from pypdf import PdfReader

    problems: list[str] = []

    # PDF: page count, words per page, page-2 sentence only on index 1.
    pdf = out / PDF_NAME
    reader = PdfReader(pdf)
    pages = [_norm(p.extract_text() or "") for p in reader.pages]
    if len(pages) < 4:
        problems.append(f"PDF has {len(pages)} pages, want >= 4")
    for i, text in enumerate(pages):
        n = len(text.split())
        if not 300 <= n <= 520:
            problems.append(f"PDF page {i + 1} has {n} words")
    hits = [i for i, t in enumerate(pages) if PDF_PAGE2_SENTENCE in t]
    if hits != [1]:
        problems.append(f"page-2 sentence found on page indexes {hits}, want [1]")
    if pdf.stat().st_size > 200_000:
        problems.append(f"PDF is {pdf.stat().st_size} bytes")

    # DOCX: sentence in a table cell and nowhere in body paragraphs.
    d = Document(str(out / DOCX_NAME))
    body = _norm(" ".join(p.text for p in d.paragraphs))
    cells = [_norm(c.text) for t in d.tables for row in t.rows for c in row.cells]
    if DOCX_TABLE_SENTENCE not in cells:
        problems.append("DOCX table sentence is not a table cell")
    if DOCX_TABLE_SENTENCE in body:
        problems.append("DOCX table sentence also appears in body paragraphs")
    if len(d.tables[0].rows) < 4 or len(d.tables[0].columns) < 3:
        problems.append("DOCX table too small")
    if DOCX_HEADER_TEXT in body or DOCX_FOOTER_TEXT in body:
        problems.append("DOCX header/footer text leaked into the body")

    # HTML: sentence inside a <main> paragraph.
    soup = BeautifulSoup((out / HTML_NAME).read_text(encoding="utf-8"), "html.parser")
    main_ps = [_norm(p.get_text()) for p in soup.main.find_all("p")]
    if not any(HTML_MAIN_SENTENCE in p for p in main_ps):
        problems.append("HTML sentence not in a <main> paragraph")

    # Anchors must be unique to their file.
    docx_all = body + " " + " ".join(cells)
    html_all = _norm(soup.get_text(" "))
    csv_all = _norm((out / CSV_NAME).read_text(encoding="utf-8"))
    corpora = {"pdf": " ".join(pages), "docx": docx_all, "html": html_all, "csv": csv_all}
    for sentence, home in [
        (PDF_PAGE2_SENTENCE, "pdf"),
        (DOCX_TABLE_SENTENCE, "docx"),
        (HTML_MAIN_SENTENCE, "html"),
    ]:
        for name, text in corpora.items():
            if name != home and sentence in text:
                problems.append(f"anchor for {home} also found in {name}")

    # The demo question's facts sit on PDF page 3; it is not an FAQ.
    if "$15 per period for e-bikes" not in pages[2]:
        problems.append("late-fee rule moved off PDF page 3")
    if DEMO_QUESTION in csv_all:
        problems.append("demo question is an FAQ")

    # CSV shape.
    with (out / CSV_NAME).open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not 8 <= len(rows) <= 12 or any(set(r) != {"question", "answer"} for r in rows):
        problems.append("faqs.csv shape is wrong")
    if FAQ_QUESTION not in [r["question"] for r in rows]:
        problems.append("README FAQ question is not in faqs.csv")

    if problems:
        sys.exit("generate.py self-check failed:\n  " + "\n  ".join(problems))
    words = ", ".join(str(len(t.split())) for t in pages)
    print(
        f"ok: {len(pages)} PDF pages (words per page: {words}), "
        f"{pdf.stat().st_size} bytes; {len(rows)} FAQs"
    )


def main() -> None:
    build_pdf(DATA / PDF_NAME)
    build_docx(DATA / DOCX_NAME)
    build_html(DATA / HTML_NAME)
    build_csv(DATA / CSV_NAME)
    build_readme(HERE / README_NAME)
    verify(DATA)


if __name__ == "__main__":
    main()
