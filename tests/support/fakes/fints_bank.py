"""A local FinTS 3.0 PIN/TAN bank (DKB or Commerzbank as python-fints sees them).

It speaks the real wire format: the body of each HTTP POST is a base64-encoded FinTS message,
which is parsed with python-fints' own parser (`SegmentSequence`), and every answer is built
from python-fints' segment classes (HIRMG/HIRMS, HIBPA, HITANS, HIPINS, HISPAS, HIUPA/HIUPD,
HISYN, HITAN, HISPA, HISAL, HIWPD) and rendered by its serializer: no hand-written FinTS text.

What the bank does, scripted by the attributes of `FakeFinTSBank` (set per test):
- Dialog initialisation (HKIDN + HKVVB [+ HKTAN process 4]) checks the PIN: a wrong one
  answers 9910 (or `pin_code`, e.g. 9931 "PIN blocked"); `locked` answers 3938. `init_code`
  answers any other 9xxx (9010, 9050, 9800 ...) to every initialisation.
- HKSYN assigns a new customer system ID (HISYN). A system ID that completed strong
  authentication once is exempt afterwards (`grant_exemption`, the ~90 day rule): its next
  dialogs answer 3076 "no SCA needed". Otherwise the bank asks for SCA with the user's
  mechanism: `sca` "decoupled" (3955, app approval; `decoupled_code="0030"` answers like
  banks whose 940 the library does not flag as decoupled), "tan" (text challenge), "phototan"
  (image in HHD_UC), "flicker" (CHLGUC challenge), or "none".
- Decoupled polls (HKTAN process S) answer 3956 until `approve_after_polls` polls were made
  (None: never approved). A TAN (HKTAN process 2, TAN in HNSHA) must equal `tan`, else 9941.
- HKSPA, HKSAL (v7), HKWPD (v6) answer the accounts, balances and depot (MT535) below.
- HKKAZ (v7, the version python-fints' `get_transactions` prefers; brokers.md: "Transactions:
  `get_transactions(account, start, end)` (HKKAZ, MT940)") answers HIKAZ7 with the giro's
  booked statement lines within the asked dates as MT940 (`:20:/:25:/:28C:/:60F:/:61:/:86:/
  :62F:`, SWIFT MT940 as German banks write it, with the structured `:86:` of the ZKA
  "DFÜ-Abkommen": a three-digit business transaction code, `?00` posting text, `?20..?29`
  purpose, `?30/?31` counterparty bank/account, `?32` name). No touchdown (one answer), as a
  bank does for short periods; `kaz_code` answers another code (e.g. 9010 "not supported").
- HKEND ends the dialog (0100).

TAN media (DKB's "Gerätebezeichnung"), scripted by `media` (the user's device names; empty:
none needed) and `listed_media` (what HKTAB lists; default: `media`):
- With media, every mechanism says in HITANS that the medium's name MUST be given
  (`description_required`), as DKB's TAN2go did (`supported_media_number=2`; python-fints
  issue #121, raphaelm/python-fints).
- A dialog initialisation whose HKTAN (process 4) names no medium or one the bank does not
  know answers 9955 "Auftrag nicht ausgeführt - Die Gerätebezeichnung ist unbekannt.
  (MBV07390100255)" on the HKTAN segment (python-fints issue #106; the same answer from DKB
  and Sparkassen in phpFinTS issue #436 and libfintx issue #89), with 9050 and 9800
  "Dialog abgebrochen" for the whole message (phpFinTS #436's log): the dialog is gone.
  It is not a wrong TAN (no TAN was sent). The cure users found: pass the medium's name
  (`tan_medium`, python-fints pull request #146 "fix #121, #106").
- The media are listed by HKTAB (answered HITAB v5: usage option, and per medium its class,
  status and name) in a dialog initialised weakly for HKTAB: HKTAN process 4 naming segment
  HKTAB, no medium, no SCA (FinTS 3.0 PIN/TAN security specification, section B.3, as
  phpFinTS' `FinTs::getTanMedia` does it: `executeWeakDialogInitialization('HKTAB')`, which
  works against DKB per phpFinTS issue #416). Such a dialog answers 3076 and allows nothing
  but HKTAB. Guess (no source shows DKB's HITAB): the class `M` (mobile) and status 1.

Balances (`hisal_version`): 7 answers HISAL v7. Any other version renders the same data
elements under a segment version python-fints has no class for, so it parses as a generic
segment with the elements in `_additional_data`: the original app met exactly this with DKB
("'FinTS3Segment' object has no attribute 'balance_booked'", lsgd/WealthTracker
backend/brokers/integrations/fints_integration.py, which reads the booked balance from those
raw elements). `hisal_garbage` sends a HISAL whose booked balance cannot be read at all
(a guess at what a broken answer looks like).
"""

from __future__ import annotations

import base64
import secrets
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from fints.formals import (
    KTI1,
    KTZ1,
    Account3,
    AccountInformation,
    AllowedFormat,
    AllowedTransaction,
    Amount1,
    Balance2,
    BankIdentifier,
    CreditDebit2,
    DescriptionRequired,
    EncryptionAlgorithm,
    GetSEPAAccountParameter1,
    InitializationMode,
    KeyName,
    Language2,
    ParameterPinTan,
    ParameterTwostepTAN7,
    PrincipalAccountRequired,
    ReferenceMessage,
    SecurityDateTime,
    SecurityIdentificationDetails,
    SecurityProfile,
    SegmentHeader,
    SMSChargeAccountRequired,
    SupportedHBCIVersions2,
    SupportedLanguages2,
    TANMedia5,
    TANMediaClass4,
    TANMediumStatus,
    TANTimeDialogAssociation,
    TANUsageOption,
    TaskHashAlgorithm,
    TransactionTanRequired,
    TwoStepParameters7,
    UPDUsage,
)
from fints.formals import (
    Response as FinTSResponse,
)
from fints.segments.accounts import HISPA1, HISPAS1
from fints.segments.auth import HIPINS1, HITAB5, HITAN7, HITANS7
from fints.segments.bank import HIBPA3, HIUPA4, HIUPD6
from fints.segments.base import FinTS3Segment, ParameterSegment
from fints.segments.depot import HIWPD6
from fints.segments.dialog import HIRMG2, HIRMS2, HISYN4
from fints.segments.message import HNHBK3, HNHBS1, HNVSD1, HNVSK3
from fints.segments.saldo import HISAL7
from fints.segments.statement import HIKAZ7
from fints.types import SegmentSequence

from tests.support.fakes.server import FakeService, Request, Response

BPD_VERSION = 78
UPD_VERSION = 3
TODAY = date(2024, 6, 14)
BIC = "BYLADEM1001"

# (security function, name, DK id, decoupled?) of the mechanisms in HITANS
MECHANISMS = {
    "940": ("DKB App", "Decoupled", True),
    "920": ("chipTAN manuell", "HHD", False),
    "902": ("photoTAN", "MS1.0.0", False),
    "911": ("chipTAN optisch", "HHDOPT1", False),
}
SCA_MECHANISM = {"decoupled": "940", "tan": "920", "phototan": "902", "flicker": "911"}

# A 1x1 PNG, the photoTAN "image" of the challenge.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
MT535 = "\r\n".join(
    [
        "",
        ":16R:GENL",
        ":28E:1/ONLY",
        ":20C::SEME//NONREF",
        ":23G:NEWM",
        ":98A::STAT//20240614",
        ":22F::STTY//CUST",
        ":16S:GENL",
        ":16R:FIN",
        ":35B:ISIN IE00B4L5Y983|/DE/A0RPWH|iShares Core MSCI World",
        "UCITS ETF",
        ":90B::MRKT//ACTU/EUR91,234",
        ":98A::PRIC//20240614",
        ":93B::AGGR//UNIT/120,5",
        ":19A::HOLD//EUR10993,70",
        ":70E::HOLD//1STK",
        "223,968293+EUR",
        ":16S:FIN",
        ":16R:FIN",
        ":35B:ISIN DE0007164600|/DE/716460|SAP SE",
        ":90B::MRKT//ACTU/EUR172,10",
        ":98A::PRIC//20240613",
        ":93B::AGGR//UNIT/10,",
        ":19A::HOLD//EUR1721,00",
        ":16S:FIN",
        ":16R:ADDINFO",
        ":19A::HOLP//EUR12714,70",
        ":16S:ADDINFO",
        "-",
    ]
)


@dataclass
class Account:
    number: str
    iban: str
    account_type: int  # FinTS Kontoart: 1-9 giro, 10-19 savings, 30-39 depot
    product: str
    booked: Decimal = Decimal("0")
    available: Decimal | None = None
    currency: str = "EUR"
    holdings: str = ""  # MT535 for depots
    # Booked transactions: (booking day, signed amount, GVC, posting text, purpose, name)
    statement: tuple[tuple[date, Decimal, str, str, str, str], ...] = ()


GIRO_STATEMENT = (
    (date(2024, 5, 31), Decimal("2450.00"), "153", "GEHALT/RENTE", "Gehalt Mai", "Arbeitgeber GmbH"),
    (date(2024, 6, 3), Decimal("-950.00"), "116", "SEPA-UEBERWEISUNG", "Miete Juni", "Hausverwaltung AG"),
    (date(2024, 6, 3), Decimal("-500.00"), "116", "SEPA-UEBERWEISUNG", "Sparen", "Anna Muster"),
    (date(2024, 6, 10), Decimal("-4.90"), "805", "ENTGELTABSCHLUSS", "Kontofuehrung Mai", ""),
    (date(2024, 6, 12), Decimal("0.83"), "805", "ABSCHLUSS", "Habenzinsen", ""),
)  # fmt: skip


def mt940(account: Account, start: date | None, end: date | None) -> str:
    """The account's booked lines within [start, end] as one MT940 statement."""
    lines = [
        line
        for line in account.statement
        if (start is None or line[0] >= start) and (end is None or line[0] <= end)
    ]
    opening = account.booked - sum((line[1] for line in account.statement), Decimal(0))
    first = lines[0][0] if lines else (start or date(2024, 6, 14))

    def amount(value: Decimal) -> str:
        return f"{abs(value):.2f}".replace(".", ",")

    def mark(value: Decimal) -> str:
        return "C" if value >= 0 else "D"

    out = [
        "",
        ":20:STARTUMSE",
        f":25:12030000/{account.number}",
        ":28C:00000/001",
        f":60F:{mark(opening)}{first:%y%m%d}{account.currency}{amount(opening)}",
    ]
    running = opening
    for day, value, code, posting, purpose, name in lines:
        running += value
        out.append(f":61:{day:%y%m%d}{day:%m%d}{mark(value)}{amount(value)}NMSCNONREF")
        details = f"{code}?00{posting}?20{purpose}"
        if name:
            details += f"?30BYLADEM1001?31DE12500105170648489890?32{name}"
        out.append(f":86:{details}")
    last = lines[-1][0] if lines else first
    out += [f":62F:{mark(running)}{last:%y%m%d}{account.currency}{amount(running)}", "-", ""]
    return "\r\n".join(out)


def default_accounts() -> list[Account]:
    return [
        Account(
            "1234567890",
            "DE02120300000000202051",
            1,
            "Girokonto",
            Decimal("1523.45"),
            Decimal("3523.45"),
            statement=GIRO_STATEMENT,
        ),
        Account("9876543210", "DE44120300000009876543", 10, "Tagesgeld", Decimal("-12.30")),
        Account("5555555555", "", 30, "Depot", holdings=MT535),
    ]


@dataclass
class Dialog:
    system_id: str
    task_reference: str | None = None  # a pending SCA
    polls: int = 0
    authenticated: bool = False
    weak: bool = False  # initialised for HKTAB only (no SCA)
    aborted: bool = False
    segments: list[str] = field(default_factory=list)


class FakeFinTSBank(FakeService):
    def __init__(self, blz: str, user_id: str, pin: str) -> None:
        super().__init__()
        self.blz = blz
        self.user_id = user_id
        self.pin = pin
        self._state_lock = threading.Lock()
        self.systems: set[str] = set()  # system IDs handed out
        self.exempt: set[str] = set()  # system IDs that need no SCA
        self.dialogs: dict[str, Dialog] = {}
        self.received: list[list[str]] = []  # segment types of each message, in order
        self.logins: list[tuple[str, bool]] = []  # (system ID, PIN right) per HKIDN
        self.configure()

    def configure(
        self,
        *,
        sca: str = "decoupled",
        decoupled_code: str = "3955",
        approve_after_polls: int | None = 0,
        tan: str = "123456",
        pin_code: str = "9910",
        locked: bool = False,
        init_code: str | None = None,
        grant_exemption: bool = True,
        mechanisms: tuple[str, ...] = ("920", "940"),
        accounts: list[Account] | None = None,
        kaz_code: str | None = None,
        media: tuple[str, ...] = (),
        listed_media: tuple[str, ...] | None = None,
        hisal_version: int = 7,
        hisal_garbage: bool = False,
    ) -> None:
        """Script the bank for a test (every call resets the script to these defaults)."""
        self.kaz_code = kaz_code
        self.sca = sca
        self.decoupled_code = decoupled_code
        self.approve_after_polls = approve_after_polls
        self.tan = tan
        self.pin_code = pin_code
        self.locked = locked
        self.init_code = init_code
        self.grant_exemption = grant_exemption
        self.mechanisms = mechanisms
        self.accounts = accounts if accounts is not None else default_accounts()
        self.media = media
        self.listed_media = media if listed_media is None else listed_media
        self.hisal_version = hisal_version
        self.hisal_garbage = hisal_garbage
        self.media_named: list[str | None] = []  # the medium named by each dialog init

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.systems.clear()
            self.exempt.clear()
            self.dialogs.clear()
            self.received.clear()
            self.logins.clear()
            self.configure()

    def types(self) -> list[str]:
        """Every business segment type received, in order (HKIDN, HKSPA, HKTAN:S ...)."""
        return [t for message in self.received for t in message]

    # --- protocol -----------------------------------------------------------------------------

    def route(self, request: Request) -> Response:
        try:
            message = SegmentSequence(base64.b64decode(request.body))
        except Exception:  # a bank answers garbage with an HTTP error
            return Response(400, b"bad request", "text/plain")
        with self._state_lock:
            answer = self._answer(message)
        return Response(200, base64.b64encode(answer), "text/plain")

    def _answer(self, message: SegmentSequence) -> bytes:
        head = message.find_segment_first("HNHBK")
        signature = message.find_segment_first("HNSHA")
        pin = str(signature.user_defined_signature.pin) if signature else None
        tan = signature.user_defined_signature.tan if signature else None
        inner = [
            s for s in message.find_segments() if s.header.type[:2] == "HK"
        ]  # business segments
        self.received.append([self._label(s) for s in inner])

        dialog_id = head.dialog_id
        if dialog_id == "0":
            dialog_id = f"dlg-{secrets.token_hex(6)}"
        dialog = self.dialogs.get(dialog_id)

        global_codes: list[tuple[str, str]] = []
        out: list[FinTS3Segment] = []

        def respond(segment: FinTS3Segment, *codes: tuple[str, str, list[str] | None]) -> None:
            out.append(_hirms(segment.header.number, codes))

        hkidn = next((s for s in inner if s.header.type == "HKIDN"), None)
        if hkidn is not None:
            system_id = hkidn.system_id
            pin_ok = pin == self.pin and hkidn.customer_id == self.user_id
            self.logins.append((system_id, pin_ok))
            if not pin_ok:
                return self._render(
                    dialog_id,
                    head,
                    [
                        _hirmg([("9800", "Dialog abgebrochen")]),
                        _hirms(
                            hkidn.header.number, [(self.pin_code, "PIN falsch oder gesperrt", None)]
                        ),
                    ],
                )
            if self.locked:
                return self._render(
                    dialog_id,
                    head,
                    [
                        _hirmg([("9050", "Teilweise fehlerhaft")]),
                        _hirms(hkidn.header.number, [("3938", "Zugang vorläufig gesperrt", None)]),
                    ],
                )
            if self.init_code:
                return self._render(
                    dialog_id, head, [_hirmg([(self.init_code, "Dialoginitialisierung abgelehnt")])]
                )
            dialog = Dialog(system_id)
            self.dialogs[dialog_id] = dialog
        elif dialog is None:
            return self._render(
                dialog_id, head, [_hirmg([("9800", "Dialog abgebrochen - unbekannter Dialog")])]
            )
        elif pin != self.pin:
            return self._render(
                dialog_id,
                head,
                [
                    _hirmg([("9800", "Dialog abgebrochen")]),
                    _hirms(3, [(self.pin_code, "PIN falsch", None)]),
                ],
            )

        for segment in inner:
            kind = segment.header.type
            if kind == "HKIDN":
                continue
            if kind == "HKVVB":
                codes: list[tuple[str, str, list[str] | None]] = []
                if segment.bpd_version != BPD_VERSION:
                    codes.append(
                        ("3050", "BPD nicht mehr aktuell, aktuelle Version enthalten.", None)
                    )
                    out.extend(self._bpd())
                if segment.upd_version != UPD_VERSION:
                    codes.append(
                        ("3050", "UPD nicht mehr aktuell, aktuelle Version enthalten.", None)
                    )
                    out.extend(self._upd())
                codes.append(
                    (
                        "3920",
                        "Zugelassene Zwei-Schritt-Verfahren für den Benutzer.",
                        list(self.mechanisms),
                    )
                )
                codes.append(("0020", "Der Auftrag wurde ausgeführt.", None))
                respond(segment, *codes)
            elif kind == "HKSYN":
                system_id = f"sys-{secrets.token_hex(8)}"
                self.systems.add(system_id)
                dialog.system_id = system_id
                dialog.authenticated = True  # a synchronisation dialog needs no SCA
                respond(segment, ("0020", "Auftrag ausgeführt.", None))
                out.append(_to(HISYN4(system_id=system_id), segment))
            elif kind == "HKTAN":
                out.extend(self._hktan(segment, dialog, tan, global_codes))
            elif kind == "HKEND":
                respond(segment, ("0100", "Dialog beendet.", None))
                self.dialogs.pop(dialog_id, None)
            elif dialog.aborted:
                break
            elif kind == "HKTAB" and (dialog.weak or dialog.authenticated):
                respond(segment, ("0020", "Auftrag ausgeführt.", None))
                out.append(_to(self._hitab(), segment))
            elif not dialog.authenticated:
                respond(segment, ("9075", "Starke Kundenauthentifizierung notwendig.", None))
                global_codes.append(("9050", "Die Nachricht enthält Fehler."))
            elif kind == "HKSPA":
                respond(segment, ("0020", "Auftrag ausgeführt.", None))
                out.append(_to(HISPA1(accounts=[self._ktz(a) for a in self.accounts]), segment))
            elif kind == "HKSAL":
                account = self._find(iban=segment.account.iban)
                if account is None:
                    respond(segment, ("9210", "Konto unbekannt, Auftrag abgelehnt.", None))
                    global_codes.append(("9050", "Die Nachricht enthält Fehler."))
                else:
                    respond(segment, ("0020", "Auftrag ausgeführt.", None))
                    out.append(self._hisal(account, segment))
            elif kind == "HKKAZ":
                account = self._find(iban=segment.account.iban)
                if account is None:
                    respond(segment, ("9210", "Konto unbekannt, Auftrag abgelehnt.", None))
                    global_codes.append(("9050", "Die Nachricht enthält Fehler."))
                elif self.kaz_code:
                    respond(segment, (self.kaz_code, "Umsatzabfrage nicht möglich.", None))
                    global_codes.append(("9050", "Die Nachricht enthält Fehler."))
                else:
                    respond(segment, ("0020", "Auftrag ausgeführt.", None))
                    text = mt940(account, segment.date_start, segment.date_end)
                    out.append(_to(HIKAZ7(statement_booked=text.encode("iso-8859-1")), segment))
            elif kind == "HKWPD":
                account = self._find(number=segment.account.account_number)
                if account is None:
                    respond(segment, ("9210", "Depot unbekannt, Auftrag abgelehnt.", None))
                    global_codes.append(("9050", "Die Nachricht enthält Fehler."))
                else:
                    respond(segment, ("0020", "Auftrag ausgeführt.", None))
                    out.append(_to(HIWPD6(holdings=account.holdings.encode("iso-8859-1")), segment))
            else:
                respond(segment, ("9010", "Geschäftsvorfall nicht unterstützt.", None))
                global_codes.append(("9050", "Die Nachricht enthält Fehler."))

        if dialog.aborted:
            self.dialogs.pop(dialog_id, None)
        first = global_codes or [("0010", "Nachricht entgegengenommen.")]
        return self._render(dialog_id, head, [_hirmg(first), *out])

    def _hktan(
        self, segment: Any, dialog: Dialog, tan: str | None, global_codes: list
    ) -> list[FinTS3Segment]:
        process = segment.tan_process
        if process == "4" and segment.segment_type == "HKTAB":  # weak: only to list media
            dialog.weak = True
            return [
                _hirms(
                    segment.header.number,
                    [("3076", "Starke Kundenauthentifizierung nicht notwendig.", None)],
                ),
                _to(HITAN7(tan_process="4", task_reference="noref"), segment),
            ]
        if process == "4":
            named = segment.tan_medium_name or None
            self.media_named.append(named)
            if self.media and named not in self.media:
                dialog.aborted = True
                global_codes.extend(
                    [("9050", "Die Nachricht enthält Fehler."), ("9800", "Dialog abgebrochen")]
                )
                return [
                    _hirms(
                        segment.header.number,
                        [
                            (
                                "9955",
                                "Auftrag nicht ausgeführt - Die Gerätebezeichnung ist "
                                "unbekannt. (MBV07390100255)",
                                None,
                            )
                        ],
                    )
                ]
        if process == "4":  # strong authentication of the dialog
            if self.sca == "none" or dialog.system_id in self.exempt:
                dialog.authenticated = True
                return [
                    _hirms(
                        segment.header.number,
                        [("3076", "Starke Kundenauthentifizierung nicht notwendig.", None)],
                    ),
                    _to(HITAN7(tan_process="4", task_reference="noref"), segment),
                ]
            dialog.task_reference = f"task-{secrets.token_hex(6)}"
            dialog.polls = 0
            challenge, hhduc = self._challenge()
            code = self.decoupled_code if self.sca == "decoupled" else "0030"
            return [
                _hirms(segment.header.number, [(code, "Auftragsfreigabe erforderlich.", None)]),
                _to(
                    HITAN7(
                        tan_process="4",
                        task_reference=dialog.task_reference,
                        challenge=challenge,
                        challenge_hhduc=hhduc,
                    ),
                    segment,
                ),
            ]
        if segment.task_reference != dialog.task_reference or dialog.task_reference is None:
            global_codes.append(("9050", "Die Nachricht enthält Fehler."))
            return [_hirms(segment.header.number, [("9210", "Auftragsreferenz unbekannt.", None)])]
        if process == "S":
            dialog.polls += 1
            status = _to(HITAN7(tan_process="S", task_reference=dialog.task_reference), segment)
            if self.approve_after_polls is None or dialog.polls <= self.approve_after_polls:
                return [
                    _hirms(segment.header.number, [("3956", "Freigabe ausstehend.", None)]),
                    status,
                ]
            self._authenticated(dialog)
            return [_hirms(segment.header.number, [("0020", "Freigabe erteilt.", None)]), status]
        if process == "2":
            if tan != self.tan:
                global_codes.append(("9050", "Die Nachricht enthält Fehler."))
                return [_hirms(segment.header.number, [("9941", "TAN ungültig.", None)])]
            self._authenticated(dialog)
            return [
                _hirms(
                    segment.header.number, [("0020", "TAN entwertet, Auftrag ausgeführt.", None)]
                ),
                _to(HITAN7(tan_process="2", task_reference=dialog.task_reference), segment),
            ]
        global_codes.append(("9050", "Die Nachricht enthält Fehler."))
        return [
            _hirms(
                segment.header.number, [("9210", f"TAN-Prozess {process} nicht unterstützt.", None)]
            )
        ]

    def _authenticated(self, dialog: Dialog) -> None:
        dialog.authenticated = True
        dialog.task_reference = None
        if self.grant_exemption:
            self.exempt.add(dialog.system_id)

    def _challenge(self) -> tuple[str, bytes | None]:
        if self.sca == "decoupled":
            return "Bitte bestätigen Sie den Vorgang in Ihrer DKB-App.", None
        if self.sca == "phototan":
            kind = b"image/png"
            matrix = len(kind).to_bytes(2, "big") + kind + len(PNG).to_bytes(2, "big") + PNG
            return "Bitte scannen Sie die Grafik mit Ihrer photoTAN-App.", matrix.ljust(256, b"\0")
        if self.sca == "flicker":
            code = "0388A01239230520422D4E"
            return f"CHLGUC  {len(code):04d}{code}CHLGTEXT0034Bitte geben Sie die TAN ein.", None
        return "Bitte geben Sie die TAN aus Ihrem TAN-Generator ein. Startcode 98765432", None

    def _find(self, *, iban: str | None = None, number: str | None = None) -> Account | None:
        for account in self.accounts:
            if (iban and account.iban == iban) or (number and account.number == number):
                return account
        return None

    # --- building answers ---------------------------------------------------------------------

    def _bank(self) -> BankIdentifier:
        return BankIdentifier(country_identifier="280", bank_code=self.blz)

    def _ktz(self, account: Account) -> KTZ1:
        return KTZ1(
            is_sepa=bool(account.iban),
            iban=account.iban or None,
            bic=BIC if account.iban else None,
            account_number=account.number,
            subaccount_number="",
            bank_identifier=self._bank(),
        )

    def _hitab(self) -> HITAB5:
        return HITAB5(
            tan_usage_option=TANUsageOption.ALL_ACTIVE,
            tan_media_list=[
                TANMedia5(
                    tan_medium_class=TANMediaClass4.MOBILE,
                    status=TANMediumStatus.ACTIVE,
                    # No account belongs to a phone. An absent group would render as one
                    # empty element, which python-fints' own parser then misaligns: the
                    # group is sent with its elements empty but the country code.
                    account=Account3(
                        account_number="",
                        subaccount_number="",
                        bank_identifier=BankIdentifier(country_identifier="280", bank_code=""),
                    ),
                    tan_medium_name=name,
                )
                for name in self.listed_media
            ],
        )

    def _hisal(self, account: Account, segment: Any) -> HISAL7:
        sign = CreditDebit2.DEBIT if account.booked < 0 else CreditDebit2.CREDIT
        hisal = _to(
            HISAL7(
                account=KTI1(iban=account.iban, bic=BIC),
                account_product=account.product,
                currency=account.currency,
                balance_booked=Balance2(
                    credit_debit=sign,
                    amount=Amount1(amount=abs(account.booked), currency=account.currency),
                    date=TODAY,
                ),
            ),
            segment,
        )
        if account.available is not None:
            hisal.available_amount = Amount1(amount=account.available, currency=account.currency)
        if self.hisal_garbage:
            hisal.balance_booked.amount.amount = None  # a booked balance without an amount
            hisal.header.version = 99
        elif self.hisal_version != 7:
            hisal.header.version = self.hisal_version
        return hisal

    def _bpd(self) -> list[FinTS3Segment]:
        parameters = [
            TwoStepParameters7(
                security_function=function,
                tan_process="2",
                tech_id=dk_id,
                zka_id=dk_id,
                zka_version="1.0",
                name=name,
                max_length_input=6,
                allowed_format=AllowedFormat.NUMERIC,
                text_return_value="TAN",
                max_length_return_value=2048,
                multiple_tans_allowed=False,
                tan_time_dialog_association=TANTimeDialogAssociation.NOT_ALLOWED,
                cancel_allowed=False,
                sms_charge_account_required=SMSChargeAccountRequired.MUST_NOT,
                principal_account_required=PrincipalAccountRequired.MUST_NOT,
                challenge_class_required=False,
                challenge_structured=False,
                initialization_mode=InitializationMode.CLEARTEXT_PIN_NO_TAN,
                description_required=(
                    DescriptionRequired.MUST if self.media else DescriptionRequired.MUST_NOT
                ),
                response_hhd_uc_required=False,
                supported_media_number=len(self.media) or None,
                decoupled_max_poll_number=999 if decoupled else None,
                wait_before_first_poll=1 if decoupled else None,
                wait_before_next_poll=1 if decoupled else None,
                manual_confirmation_allowed=False if decoupled else None,
                automated_polling_allowed=True if decoupled else None,
            )
            for function, (name, dk_id, decoupled) in MECHANISMS.items()
        ]
        required = [
            TransactionTanRequired(transaction=t, tan_required=False)
            for t in ("HKSPA", "HKSAL", "HKWPD", "HKKAZ", "HKTAB", "HKTAN")
        ]
        return [
            HIBPA3(
                bpd_version=BPD_VERSION,
                bank_identifier=self._bank(),
                bank_name="Fake Bank",
                number_tasks=3,
                supported_languages=SupportedLanguages2(languages=[Language2.DE]),
                supported_hbci_version=SupportedHBCIVersions2(versions=["300"]),
                max_message_length=0,
            ),
            HITANS7(
                max_number_tasks=1,
                min_number_signatures=1,
                security_class=0,
                parameter=ParameterTwostepTAN7(
                    onestep_method_allowed=False,
                    multiple_tasks_allowed=False,
                    task_hash_algorithm=TaskHashAlgorithm.NONE,
                    twostep_parameters=parameters,
                ),
            ),
            HIPINS1(
                max_number_tasks=1,
                min_number_signatures=1,
                security_class=0,
                parameter=ParameterPinTan(
                    min_pin_length=5,
                    max_pin_length=38,
                    max_tan_length=6,
                    user_id_field_text="Anmeldename",
                    customer_id_field_text="Kunden-ID",
                    transaction_tans_required=required,
                ),
            ),
            HISPAS1(
                max_number_tasks=1,
                min_number_signatures=1,
                security_class=0,
                parameter=GetSEPAAccountParameter1(
                    single_account_query_allowed=True,
                    national_account_allowed=False,
                    structured_purpose_allowed=False,
                    supported_sepa_formats=["sepade.pain.001.001.03.xsd"],
                ),
            ),
            _parameter_segment("HISALS", 7),
            _parameter_segment("HIWPDS", 6),
            _parameter_segment("HIKAZS", 7),
            _parameter_segment("HITABS", 5),
        ]

    def _upd(self) -> list[FinTS3Segment]:
        upd: list[FinTS3Segment] = [
            HIUPA4(
                user_identifier=self.user_id,
                upd_version=UPD_VERSION,
                upd_usage=UPDUsage.UPD_INCONCLUSIVE,
            )
        ]
        for account in self.accounts:
            allowed = ["HKWPD"] if not account.iban else ["HKSAL", "HKSPA", "HKKAZ"]
            upd.append(
                HIUPD6(
                    account_information=AccountInformation(
                        account_number=account.number,
                        subaccount_number="",
                        bank_identifier=self._bank(),
                    ),
                    iban=account.iban or None,
                    customer_id=self.user_id,
                    account_type=account.account_type,
                    account_currency=account.currency,
                    name_account_owner_1="Anna Muster",
                    account_product_name=account.product,
                    allowed_transactions=[
                        AllowedTransaction(transaction=t, required_signatures=1) for t in allowed
                    ],
                )
            )
        return upd

    def _render(self, dialog_id: str, head: Any, segments: list[FinTS3Segment]) -> bytes:
        for number, segment in enumerate(segments, start=2):
            segment.header.number = number
        answer = SegmentSequence(
            [
                HNHBK3(
                    message_size=0,
                    hbci_version=300,
                    dialog_id=dialog_id,
                    message_number=head.message_number,
                    reference_message=ReferenceMessage(
                        dialog_id=head.dialog_id, message_number=head.message_number
                    ),
                ),
                HNVSK3(
                    security_profile=SecurityProfile("PIN", "1"),
                    security_function="998",
                    security_role="1",
                    security_identification_details=SecurityIdentificationDetails("2", None, "0"),
                    security_datetime=SecurityDateTime("1"),
                    encryption_algorithm=EncryptionAlgorithm("2", "2", "13", b"\0" * 8, "5", "1"),
                    key_name=KeyName(self._bank(), self.user_id, "V", 0, 0),
                    compression_function="0",
                ),
                HNVSD1(data=SegmentSequence(segments)),
                HNHBS1(message_number=head.message_number),
            ]
        )
        answer.segments[0].header.number = 1
        answer.segments[1].header.number = 998
        answer.segments[2].header.number = 999
        answer.segments[3].header.number = len(segments) + 2
        size = len(answer.render_bytes())
        answer.segments[0].message_size = size
        return answer.render_bytes()

    @staticmethod
    def _label(segment: Any) -> str:
        if segment.header.type == "HKTAN":
            return f"HKTAN:{segment.tan_process}"
        return segment.header.type


def _to(answer: Any, segment: Any) -> Any:
    """`answer` marked as the answer to the customer's `segment` (its header reference)."""
    answer.header.reference = segment.header.number
    return answer


def _hirmg(codes: list[tuple[str, str]]) -> HIRMG2:
    return HIRMG2(responses=[FinTSResponse(code=c, reference_element="", text=t) for c, t in codes])


def _hirms(reference: int, codes: Any) -> HIRMS2:
    segment = HIRMS2(
        responses=[
            FinTSResponse(code=c, reference_element="", text=t, parameters=p or None)
            for c, t, p in codes
        ]
    )
    segment.header.reference = reference
    return segment


def _parameter_segment(kind: str, version: int) -> FinTS3Segment:
    """A parameter segment python-fints has no class for (HISALS, HIWPDS): only the header and
    the common fields matter to the client."""
    segment = ParameterSegment(
        header=SegmentHeader(type=kind, number=0, version=version),
        max_number_tasks=1,
        min_number_signatures=1,
        security_class=0,
    )
    return segment
