"""Choosing the Amazon item a barcode designates (design section 6). Pure: no I/O, no clock, no randomness.

Definitions
-----------
Identifiers are compared as GTIN-14: non-digits stripped, left-padded with zeros; a 10-character ISBN-10
with a valid check digit (``X`` included) is first turned into its ``978`` EAN-13.

* **Written** proof: one of the candidate's identifiers, stripped of everything but digits and ``X``,
  equals the input code as written (``LookupCode.code``), or is the 14-digit zero-padded form of it. The
  second case exists because SP-API converts what it is sent to GTINs and may answer ``00036000291452``
  for the UPC-A ``036000291452`` it was sent (amazon-apis.md §3.1). It applies only to codes that are
  GTINs as written (not UPC-E, not ISBN-10, whose GTIN-14 is a conversion).
* **Normalised** proof: an identifier equals the code only as GTIN-14 (UPC-A ↔ EAN-13 ``"0" + upc``,
  ISBN-10 ↔ ISBN-13, GTIN-14 with indicator 0 ↔ EAN-13, UPC-E ↔ its UPC-A).
* **Multipack**: ``package_quantity > 1``, a pack pattern in the title (:func:`pack_quantity_from_title`),
  or ``item_classification == "PRODUCT_BUNDLE"``. **Variation parent**: ``"VARIATION_PARENT"``.
* **Offer**: ``buy_box`` true (best), a price without the buy box, else "no offer" (a slight penalty).

Match types: ``exact`` needs written proof on a single-unit item that can be bought. Normalised proof,
and any proof on a multipack or a variation parent, gives ``partial``: the code identifies the unit, not
the pack, even when the pack is the only candidate. ``fuzzy`` needs a supplier title whose similarity
with the Amazon title (rapidfuzz ``token_set_ratio`` on lowercase accent-free words) reaches 0.85; without
a supplier title, a candidate without proof has no match type and score 0. ``manual`` is never produced
here: people and direct imports set it.

Confidence (``ScoredCandidate.score``; buy box / price only / no offer)::

    exact, single unit                      0.99 / 0.98 / 0.96
    partial, normalised single unit         0.90 / 0.89 / 0.87
    partial, multipack carrying the code    0.85 / 0.84 / 0.82
    partial, variation parent               0.75
    fuzzy, similarity 0.85 → 1.00           0.50 → 0.75 (-0.01 price only, -0.02 no offer,
                                            -0.05 multipack, -0.10 parent; kept within 0.50-0.75)

Choice: identifier proof first (exact, then partial, then fuzzy), then a buyable item over a variation
parent, then a single unit over a multipack, then written over normalised proof, then the closer title
(fuzzy only), then the offer, then the best (lowest) sales rank, then the ASIN string. The choice is
*contested* when another ASIN of the same kind (both with identifier proof or both fuzzy, same
parent/multipack status) is a candidate; the confidence is then multiplied by the factor of the first
criterion that separated them: proof form 0.91, title 0.93, offer 0.89, sales rank 0.86, ASIN only 0.81
(an uncontested exact 0.99 becomes 0.90, 0.88, 0.85 or 0.80). Confidences are rounded to 2 decimals.

Second look: the winner is compared with the supplier's own title, price and ASIN (``match_review``).
A title sharing almost nothing with Amazon's, a price off by more than a factor of 4, or another supplier
ASIN keeps the match type but multiplies the confidence by 0.85 per disagreement, and the reason ends
with what to check ("title similarity 0.40, price +499 %: check"); ``MatchDecision.review`` lists them.

``MatchDecision.asin`` holds the best candidate whenever it has a match type, even below ``threshold``;
``accepted`` is False then, and the caller reports the ASIN without accepting it. With no evidence at all
``asin`` and ``match_type`` are None and ``confidence`` is 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from rapidfuzz import fuzz

from code2asin.barcodes import normalise_asin
from code2asin.match_review import review_match
from code2asin.providers.base import Candidate, LookupCode


class MatchType(StrEnum):
    EXACT = "exact"
    PARTIAL = "partial"
    FUZZY = "fuzzy"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """One candidate with the confidence it would get if chosen, and the reasons behind it."""

    asin: str
    score: float
    match_type: MatchType | None  # None: no identifier or title evidence at all
    reasons: tuple[str, ...]
    is_multipack: bool
    pack_quantity: int | None


@dataclass(frozen=True, slots=True)
class MatchDecision:
    """The choice for one code; ``candidates`` holds every candidate, best first."""

    asin: str | None
    match_type: MatchType | None
    confidence: float
    accepted: bool
    candidates: tuple[ScoredCandidate, ...]
    reason: str
    #: what a person should check about the chosen item (``match_review`` flags); empty when nothing
    review: tuple[str, ...] = ()


FUZZY_FLOOR = 0.85
_CODE_LABELS = {"EAN": "EAN", "EAN8": "EAN-8", "UPC": "UPC-A", "UPC_E": "UPC-E", "GTIN14": "GTIN-14",
                "ISBN10": "ISBN-10", "ISBN13": "ISBN-13"}
_BASE_SCORES = {"exact": (0.99, 0.98, 0.96), "normalised": (0.90, 0.89, 0.87), "pack": (0.85, 0.84, 0.82)}
_PARENT_SCORE = 0.75
_CONTEST_FACTORS = {"form": 0.91, "title": 0.93, "offer": 0.89, "rank": 0.86, "asin": 0.81}
_TYPE_ORDER = {MatchType.EXACT: 0, MatchType.PARTIAL: 1, MatchType.FUZZY: 2, None: 3}
_OFFER_REASONS = ("buy box", "offer without buy box", "no offer")
_UNITS = r"(?:k?g|mg|ml|cl|dl|l|oz|fl\.?\s?oz|lbs?)"
_MEASURES = rf"(?:{_UNITS}|[ckm]?m|in|inch|w|v|mah|[gmt]b)"
_PACK_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:lot|pack|paquet|carton|set|case|bundle)\s+(?:de|of|x)\s*(\d+)\b",  # Lot de 6, Pack of 6, Set of 3
    r"\b(\d+)\s*er(?:[\s-]*(?:pack|packung|set))?\b",  # 6er Pack, 6er-Packung, 6er
    r"\b(\d+)[\s-]?(?:pack|packung)\b",  # 6-pack, 12 Pack
    rf"\b(\d+)\s*x\s*\d+(?:[.,]\d+)?\s*{_UNITS}(?![a-z])",  # 6 x 33 cl, 6x1,5L (not 30 x 40 cm)
    rf"(?<![\w.,])(?<!\d\s)x\s?(\d+)\b(?!\s*(?:[.,]\d)|\s*{_MEASURES}(?![a-z]))",  # x6 (not x 400g, 30 x 40)
))


def _compact(value: str) -> str:
    return re.sub(r"[^0-9X]", "", value.upper())


def _gs1_check_digit(body: str) -> str:
    return str((10 - sum((3, 1)[i % 2] * int(n) for i, n in enumerate(reversed(body)))) % 10)


def _isbn10_to_gtin14(value: str) -> str | None:
    if not re.fullmatch(r"\d{9}[\dX]", value):
        return None
    check = 10 if value[9] == "X" else int(value[9])
    if (sum((10 - i) * int(d) for i, d in enumerate(value[:9])) + check) % 11:
        return None
    body = "978" + value[:9]
    return "0" + body + _gs1_check_digit(body)


def _to_gtin14(value: str) -> str | None:
    """The GTIN-14 key of an identifier, or None when it cannot be one."""
    compact = _compact(value)
    isbn = _isbn10_to_gtin14(compact) if len(compact) == 10 else None
    if isbn is not None:
        return isbn
    return compact.zfill(14) if compact.isdigit() and len(compact) <= 14 else None


def same_gtin(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same GTIN-14 after stripping non-digits and left-padding.

    A valid ISBN-10 (check digit ``X`` included) is first converted to its 978 EAN-13. Empty or
    over-long values never match anything.
    """
    key = _to_gtin14(a)
    return key is not None and key == _to_gtin14(b)


def _find_pack(title: str) -> tuple[int, str] | None:
    for pattern in _PACK_PATTERNS:
        for found in pattern.finditer(title):
            quantity = int(found.group(1))
            if quantity > 1:
                return (quantity, found.group(0).strip()) if quantity < 1000 else None
    return None


def pack_quantity_from_title(title: str) -> int | None:
    """How many units a title says the item holds, or None for a single unit (or when it does not say).

    Recognised: ``Lot de 6``, ``Pack of 6``, ``(Pack de 4)``, ``Paquet de 12``, ``Carton de 24``,
    ``Set of 3``, ``6er Pack``, ``6er``, ``6-pack``, ``x6``, ``6 x 33 cl`` (6 units). Weights and sizes
    (``400 g``, ``x 400g``, ``30 x 40 cm``) are not packs, and neither are piece counts (``1000 pièces``
    is one puzzle, ``500 Stück`` one box of screws).
    """
    found = _find_pack(title)
    return found[0] if found else None


def normalise_title(title: str) -> str:
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = re.sub(r"[^\w]+", " ", stripped)
    return " ".join(re.sub(r"(\d)\s+(?=(?!x\b)[a-z]{1,2}\b)", r"\1", words).split())  # "400 g" == "400g"


def _title_similarity(a: str, b: str) -> float:
    """``token_set_ratio`` in 0..1; one shared word alone is not enough to score like a full match."""
    left, right = normalise_title(a), normalise_title(b)
    if not left or not right:
        return 0.0
    score = fuzz.token_set_ratio(left, right) / 100
    if len(set(left.split()) & set(right.split())) < 2:
        score = min(score, fuzz.token_sort_ratio(left, right) / 100)
    return round(score, 4)


@dataclass(frozen=True, slots=True)
class _Scored:
    """A scored candidate plus what the chooser needs to rank it."""

    public: ScoredCandidate
    proof: str | None  # "written", "normalised", "title" or None
    proof_text: str
    is_parent: bool
    offer_rank: int
    sales_rank: int | None
    similarity: float
    #: for the second look at the winner (``match_review``): its price, and whether both titles exist
    price: Decimal | None = None
    titles_compared: bool = False

    def key(self) -> tuple[object, ...]:
        pub = self.public
        return (_TYPE_ORDER[pub.match_type], self.is_parent, pub.is_multipack, self.proof != "written",
                -self.similarity if self.proof == "title" else 0.0, self.offer_rank,
                self.sales_rank is None, self.sales_rank or 0, pub.asin, -pub.score, pub.reasons)


def _identifier_proof(code: LookupCode, candidate: Candidate) -> tuple[str, str, str] | None:
    written = _compact(code.code)
    key = code.gtin if re.fullmatch(r"\d{14}", code.gtin) else _to_gtin14(code.code)
    padded_is_written = written.isdigit() and written.zfill(14) == key
    normalised: tuple[str, str, str] | None = None
    for id_type in sorted(candidate.identifiers):
        for value in sorted(candidate.identifiers[id_type]):
            compact = _compact(value)
            if written and (compact == written or (padded_is_written and compact == key)):
                return ("written", id_type, value)
            if normalised is None and key is not None and _to_gtin14(value) == key:
                normalised = ("normalised", id_type, value)
    return normalised


def _pack_info(candidate: Candidate) -> tuple[bool, int | None, str | None]:
    quantity = candidate.package_quantity
    if quantity is not None and quantity > 1:
        return True, quantity, f"multipack x{quantity} (package quantity {quantity})"
    found = _find_pack(candidate.title) if candidate.title else None
    if found is not None:
        return True, found[0], f"multipack x{found[0]} (title '{found[1]}')"
    if candidate.item_classification == "PRODUCT_BUNDLE":
        return True, None, "product bundle"
    return False, None, None


def _score(code: LookupCode, candidate: Candidate, supplier_title: str | None) -> _Scored:
    reasons: list[str] = []
    proof = _identifier_proof(code, candidate)
    is_pack, quantity, pack_reason = _pack_info(candidate)
    is_parent = candidate.item_classification == "VARIATION_PARENT"
    offer_rank = 0 if candidate.buy_box else 1 if candidate.price is not None else 2
    similarity = 0.0
    if supplier_title and candidate.title:
        similarity = _title_similarity(supplier_title, candidate.title)
    kind: str | None = None
    proof_text = ""
    if proof is not None:
        kind, proof_text = proof[0], f"{proof[1]} {proof[2]}"
        reasons.append(f"identifier proof: {proof_text}" if kind == "written"
                       else f"{proof_text} equals the code after normalisation")
    else:
        reasons.append("no identifier agrees with the code" if candidate.identifiers
                       else "Amazon returned no identifiers")
        kind = "title" if similarity >= FUZZY_FLOOR else None
    reasons += [r for r in (pack_reason, "variation parent" if is_parent else None) if r]
    if candidate.parent_asin and not is_parent:
        reasons.append(f"variation of {candidate.parent_asin}")
    reasons.append(_OFFER_REASONS[offer_rank])
    if candidate.sales_rank is not None:
        reasons.append(f"sales rank {candidate.sales_rank:,}".replace(",", " "))
    if supplier_title and candidate.title:
        reasons.append(f"title similarity {similarity:.2f}")
    match_type, score = _type_and_score(kind, is_pack, is_parent, offer_rank, similarity)
    public = ScoredCandidate(candidate.asin, score, match_type, tuple(reasons), is_pack, quantity)
    return _Scored(public, kind, proof_text, is_parent, offer_rank, candidate.sales_rank, similarity,
                   candidate.price, bool(supplier_title and candidate.title))


def _type_and_score(kind: str | None, is_pack: bool, is_parent: bool, offer_rank: int,
                    similarity: float) -> tuple[MatchType | None, float]:
    if kind is None:
        return None, 0.0
    if kind == "title":
        raw = 0.5 + 0.25 * (similarity - FUZZY_FLOOR) / (1 - FUZZY_FLOOR)
        raw -= (0.0, 0.01, 0.02)[offer_rank] + (0.05 if is_pack else 0.0) + (0.10 if is_parent else 0.0)
        return MatchType.FUZZY, round(min(0.75, max(0.5, raw)), 2)
    if is_parent:
        return MatchType.PARTIAL, _PARENT_SCORE
    if is_pack:
        return MatchType.PARTIAL, _BASE_SCORES["pack"][offer_rank]
    if kind == "written":
        return MatchType.EXACT, _BASE_SCORES["exact"][offer_rank]
    return MatchType.PARTIAL, _BASE_SCORES["normalised"][offer_rank]


def _same_kind(a: _Scored, b: _Scored) -> bool:
    """Whether ``b`` competes with ``a``: another ASIN, same evidence family, same unit/parent status."""
    return (a.public.asin != b.public.asin and b.proof is not None
            and (a.proof == "title") == (b.proof == "title")
            and a.is_parent == b.is_parent and a.public.is_multipack == b.public.is_multipack)


def _separating_criterion(winner: _Scored, runner: _Scored) -> str:
    if winner.proof != runner.proof:
        return "form"
    if winner.similarity != runner.similarity and winner.proof == "title":
        return "title"
    if winner.offer_rank != runner.offer_rank:
        return "offer"
    if winner.sales_rank != runner.sales_rank:
        return "rank"
    return "asin"


def _criterion_phrase(criterion: str, winner: _Scored) -> str:
    phrases = {"form": "its identifier is written exactly as the code", "title": "it has the closest title",
               "offer": "it has the buy box" if winner.offer_rank == 0 else "it has an offer",
               "rank": "it has the best sales rank",
               "asin": "its ASIN sorts first (nothing else separates them)"}
    return phrases[criterion]


def _winner_sentence(code_text: str, winner: _Scored) -> str:
    pub = winner.public
    if winner.proof == "title":
        return (f"no identifier agrees with {code_text}; {pub.asin} chosen on title similarity "
                f"{winner.similarity:.2f}")
    if winner.is_parent:
        return (f"{pub.asin} is a variation parent (cannot be bought) carrying {code_text}; "
                "no buyable item carries the code")
    if pub.is_multipack:
        what = f"a multipack (x{pub.pack_quantity})" if pub.pack_quantity else "a product bundle"
        return (f"{pub.asin} is {what} carrying {code_text}; "
                "the code identifies the unit, so the match is partial")
    if winner.proof == "written":
        listed = winner.proof_text.split(" ", 1)[1]
        shown = "" if _compact(listed) == _compact(code_text.split(" ", 1)[1]) else f" (listed as {listed})"
        return f"{pub.asin} carries {code_text} as written{shown}"
    return f"{pub.asin} carries {winner.proof_text}, the same GTIN as {code_text} after normalisation"


def _passed_over(winner: _Scored, others: Sequence[_Scored]) -> list[str]:
    """Clauses naming the multipacks and variation parents that carried the code but lost to ``winner``."""
    proven = [s for s in others if s.proof in ("written", "normalised")]
    single, buyable, chosen = not winner.public.is_multipack, not winner.is_parent, {winner.public.asin}
    packs = sorted({s.public.asin for s in proven if s.public.is_multipack and single} - chosen)
    parents = sorted({s.public.asin for s in proven if s.is_parent and buyable} - chosen)
    clauses = []
    if packs:
        clauses.append(f"preferred the single unit over multipack {', '.join(packs)}")
    if parents:
        clauses.append(f"preferred a buyable item over variation parent {', '.join(parents)}")
    return clauses


def _no_match_reason(code_text: str, count: int, supplier_title: str | None) -> str:
    if count == 0:
        return f"Amazon returned no item for {code_text}."
    title_part = ("and no title is close enough to the supplier title" if supplier_title
                  else "and there is no supplier title to compare")
    items = "item" if count == 1 else "items"
    return f"None of the {count} Amazon {items} carries {code_text} {title_part}."


def decide(code: LookupCode, candidates: Sequence[Candidate], *, supplier_title: str | None = None,
           threshold: float = 0.5, supplier_price: Decimal | None = None,
           supplier_asin: str | None = None) -> MatchDecision:
    """Score every candidate for ``code`` and choose one (rules and figures in the module docstring).

    Returns a :class:`MatchDecision` whose ``candidates`` are all scored, best first. It never raises
    for odd data: unknown fields count as absent. The result does not depend on the order of
    ``candidates``; ties are broken by ASIN. The winner then gets a second look against the supplier's
    title, price and ASIN (``match_review``): a disagreement lowers its confidence and says what to check.
    """
    code_text = f"{_CODE_LABELS.get(code.code_type, code.code_type)} {code.code}"
    ranked = sorted((_score(code, c, supplier_title) for c in candidates), key=_Scored.key)
    public = tuple(s.public for s in ranked)
    if not ranked or ranked[0].public.match_type is None:
        reason = _no_match_reason(code_text, len(ranked), supplier_title)
        return MatchDecision(None, None, 0.0, False, public, reason)
    winner = ranked[0]
    confidence = winner.public.score
    clauses = [_winner_sentence(code_text, winner)]
    rivals = [s for s in ranked[1:] if _same_kind(winner, s)]
    if rivals:
        criterion = _separating_criterion(winner, rivals[0])
        confidence = round(confidence * _CONTEST_FACTORS[criterion], 2)
        count = len({winner.public.asin} | {r.public.asin for r in rivals})
        what = "have titles close to the supplier title" if winner.proof == "title" else "carry this code"
        clauses.append(f"{count} ASINs {what}; chose {winner.public.asin} because "
                       f"{_criterion_phrase(criterion, winner)}")
    if winner.proof != "title":
        clauses += _passed_over(winner, ranked[1:])
    review = review_match(
        asin=winner.public.asin,
        title_checked=winner.proof != "title",
        title_similarity=winner.similarity if winner.titles_compared else None,
        amazon_price=winner.price,
        supplier_price=supplier_price,
        supplier_asin=normalise_asin(supplier_asin) if supplier_asin else None,
    )
    if review.flags:
        confidence = round(confidence * review.factor, 2)
        clauses.append(str(review.clause))
    accepted = confidence >= threshold
    if not accepted:
        clauses.append(f"confidence {confidence:.2f} is below the threshold {threshold:.2f}, "
                       "so it is reported, not accepted")
    reason = "; ".join(clauses)
    return MatchDecision(winner.public.asin, winner.public.match_type, confidence, accepted, public,
                         reason[0].upper() + reason[1:] + ".", review.flags)
