"""Choosing an Amazon item from a title search, for a code Amazon did not find by barcode. Pure.

A title search answers with near misses as readily as with the right product: the same spread in another
size, a 6-pack of it, another brand's. So each candidate is checked on what a person would check, and
any hard disagreement rules it out whatever its title says:

* **title**: the words of both titles once brand words, sizes and pack counts are set aside, compared
  word by word (a supplier's ``NOISET.`` matches ``noisettes``, a one-letter slip is forgiven); the
  similarity weighs the supplier's words found in Amazon's (precision) twice as much as Amazon's words
  found in the supplier's (Amazon titles are long), an F-score with beta 0.5;
* **brand**: the brand column (or, without one, whether Amazon's brand is written in the supplier's
  title): agrees, unknown, or **differs (ruled out)**;
* **size**: weights, volumes and piece counts (``400 g``, ``0,75 L``, ``32 couches``), compared in grams,
  millilitres or pieces within 3 %; every dimension both titles state must agree: agrees, unknown (they
  share none), or **differs (ruled out)**;
* **pack**: the pack count (``Lot de 6``, ``x6``, ``6-pack``, ``6X400G``, ``3 x 5 piles``; none stated = 1)
  and Amazon's package quantity or title pack, the larger (listings often keep a quantity of 1 under a
  "Lot de 3" title): agrees or **differs (ruled out)**;
* **price**: Amazon's price over the supplier's: 0.8 to 3 agrees (a wholesale price is a half to a third
  of the retail one), outside that it does not, and **beyond a factor 4 either way it is ruled out**.

The score is ``0.80 × (0.55 title + 0.20 brand + 0.12 size + 0.05 pack + 0.08 price)``, each part 1 when
it agrees, 0.5 when unknown and 0 when it does not: a title match never scores above 0.80, below any
identifier proof (a partial multipack match is 0.82). The best candidate not ruled out is accepted when
its score reaches the threshold (``DEFAULT_THRESHOLD``, 0.70: a close title with brand and size agreeing,
or a near-identical one with one of them unknown). When the runner-up scores within 0.03 of it, its
confidence is multiplied by 0.85 and the reason says the two are alike: two equally good answers are a
person's choice, so such a match stays below the default threshold. ASINs a person rejected for this
code are never chosen. The match type is always ``fuzzy`` and the row goes to the "needs review" list.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal

from rapidfuzz import fuzz

from code2asin.matching import pack_quantity_from_title
from code2asin.providers.base import Candidate

DEFAULT_THRESHOLD = 0.70
MAX_SCORE = 0.80
WEIGHTS = {"title": 0.55, "brand": 0.20, "size": 0.12, "pack": 0.05, "price": 0.08}
UNKNOWN = 0.5
SIZE_TOLERANCE = 0.03
PRICE_AGREES = (0.8, 3.0)
PRICE_RULED_OUT = 4.0
CONTEST_MARGIN = 0.03
CONTEST_FACTOR = 0.85
#: the flag a title match puts on its row (the "needs review" list)
REVIEW_FUZZY = "fuzzy"

_STOPWORDS = frozenset(
    [
        "a",
        "au",
        "aux",
        "avec",
        "de",
        "des",
        "du",
        "en",
        "et",
        "la",
        "le",
        "les",
        "l",
        "d",
        "un",
        "une",
        "pour",
        "par",
        "sur",
        "the",
        "of",
        "and",
        "with",
        "for",
        "in",
        "x",
        "pack",
        "lot",
        "paquet",
        "set",
        "boite",
        "pot",
        "bouteille",
        "flacon",
        "sachet",
        "tube",
    ]
)
#: unit -> (dimension, factor to grams / millilitres / pieces)
_UNITS = {
    "mg": ("g", 0.001),
    "g": ("g", 1.0),
    "gr": ("g", 1.0),
    "grs": ("g", 1.0),
    "gramme": ("g", 1.0),
    "grammes": ("g", 1.0),
    "kg": ("g", 1000.0),
    "kilo": ("g", 1000.0),
    "kilos": ("g", 1000.0),
    "oz": ("g", 28.3495),
    "lb": ("g", 453.592),
    "lbs": ("g", 453.592),
    "ml": ("ml", 1.0),
    "cl": ("ml", 10.0),
    "dl": ("ml", 100.0),
    "l": ("ml", 1000.0),
    "litre": ("ml", 1000.0),
    "litres": ("ml", 1000.0),
    "liter": ("ml", 1000.0),
    "liters": ("ml", 1000.0),
}
_PIECES = (
    "couches",
    "capsules",
    "dosettes",
    "sachets",
    "rouleaux",
    "tablettes",
    "lingettes",
    "piles",
    "pastilles",
    "comprimes",
    "gelules",
    "doses",
    "lavages",
    "filtres",
    "bougies",
    "mouchoirs",
    "serviettes",
    "pieces",
    "pcs",
    "unites",
    "tabs",
    "pods",
    "wipes",
    "capsule",
    "couche",
    "dosette",
    "sachet",
    "rouleau",
    "sacs",
    "sachets",
    "lames",
    "feuilles",
    "cartouches",
    "ampoules",
    "piles",
)
_UNIT_ALTERNATION = "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
_MEASURE = re.compile(rf"(?<![\w.,])(\d+(?:[.,]\d+)?)\s?({_UNIT_ALTERNATION})\b")
_PIECE_COUNT = re.compile(rf"(?<![\w.,])(\d+)\s?({'|'.join(_PIECES)})\b")
#: supplier shorthand for a pack that Amazon-style titles do not use: ``LOT 6``, ``6X400G``, ``PACK6``
#: ``3 x 5 piles``, ``2x56 lingettes``: packs of counted pieces (``matching`` reads ``6 x 33 cl`` itself)
_PIECE_PACK = re.compile(rf"\b(\d{{1,3}})\s*x\s*\d+\s*(?:{'|'.join(_PIECES)})\b")
#: supplier shorthand for a pack that Amazon-style titles do not use: ``LOT 6``, ``PACK 2``, ``6X400G``
_SUPPLIER_PACK = (
    re.compile(r"\b(?:lot|pack|carton|colis)\s*(?:de\s*)?(\d{1,3})\b(?!\s*(?:" + _UNIT_ALTERNATION + r")\b)"),
    re.compile(rf"\b(\d{{1,3}})\s*x\s*\d+(?:[.,]\d+)?\s*(?:{_UNIT_ALTERNATION})\b"),
)
_SIZE_OR_PACK = re.compile(
    rf"(?<![\w.,])\d+(?:[.,]\d+)?\s?(?:{_UNIT_ALTERNATION}|{'|'.join(_PIECES)})\b"
    rf"|\b\d+\s*x\b|\bx\s*\d+\b|\b\d+(?:er|-?pack)\b|\b(?:lot|pack|carton|colis)\s*(?:de|of)?\s*\d+\b"
)


@dataclass(frozen=True, slots=True)
class Size:
    """A stated quantity in grams (``g``), millilitres (``ml``) or pieces (``pcs``)."""

    dimension: str
    amount: float
    text: str


@dataclass(frozen=True, slots=True)
class TitleFacts:
    """What a title says besides its words: sizes, pack count, and the words themselves."""

    words: tuple[str, ...]
    sizes: tuple[Size, ...]
    pack: int | None


@dataclass(frozen=True, slots=True)
class TitleScore:
    """One candidate of a title search, scored; ``ruled_out`` names the hard disagreement, if any."""

    asin: str
    score: float
    title_similarity: float
    brand: str  # "agrees", "unknown", "differs"
    size: str
    pack: str
    price: str
    ruled_out: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TitleDecision:
    """The choice among a title search's candidates; ``candidates`` best first."""

    asin: str | None
    confidence: float
    accepted: bool
    candidates: tuple[TitleScore, ...]
    reason: str


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w]+", text) if w and w not in _STOPWORDS]


def title_facts(title: str, *, supplier: bool = False) -> TitleFacts:
    """The sizes, pack count and remaining words of ``title`` (``supplier``: also read supplier shorthand
    such as ``LOT 6`` and ``6X400G``)."""
    plain = re.sub(r"(\d)\s*x\s*(?=\d)", r"\1 x ", _plain(title))  # "6X400G" -> "6 x 400g"
    sizes = [
        Size(_UNITS[unit][0], float(amount.replace(",", ".")) * _UNITS[unit][1], found.group(0).strip())
        for found in _MEASURE.finditer(plain)
        for amount, unit in [found.groups()]
    ]
    sizes += [
        Size("pcs", float(n), found.group(0))
        for found in _PIECE_COUNT.finditer(plain)
        for n in [found.group(1)]
    ]
    pack = pack_quantity_from_title(plain)
    if pack is None and (found := _PIECE_PACK.search(plain)) and int(found.group(1)) > 1:
        pack = int(found.group(1))
    if pack is None and supplier:
        for pattern in _SUPPLIER_PACK:
            found = pattern.search(plain)
            if found and int(found.group(1)) > 1:
                pack = int(found.group(1))
                break
    words = _words(_SIZE_OR_PACK.sub(" ", plain))
    return TitleFacts(tuple(words), tuple(sizes), pack)


def _same_word(supplier: str, amazon: str) -> bool:
    """``supplier`` is ``amazon``, abbreviated (``noiset``: ``noisettes``) or with a slip (``tartiner``)."""
    if supplier == amazon:
        return True
    if len(supplier) >= 3 and amazon.startswith(supplier):
        return True
    return len(supplier) >= 5 and len(amazon) >= 5 and fuzz.ratio(supplier, amazon) >= 85


def title_similarity(supplier_words: Sequence[str], amazon_words: Sequence[str]) -> float:
    """F0.5 of the word matches: precision (supplier words found in Amazon's) counts twice."""
    left, right = set(supplier_words), set(amazon_words)
    if not left or not right:
        return 0.0
    precision = sum(any(_same_word(w, a) for a in right) for w in left) / len(left)
    recall = sum(any(_same_word(w, a) for w in left) for a in right) / len(right)
    if not precision or not recall:
        return 0.0
    return round(1.25 * precision * recall / (0.25 * precision + recall), 4)


def _brand_words(brand: str | None) -> set[str]:
    return set(re.split(r"[^\w]+", _plain(brand))) - {""} if brand else set()


def _same_brand(a: str, b: str) -> bool:
    left, right = " ".join(sorted(_brand_words(a))), " ".join(sorted(_brand_words(b)))
    return bool(left and right) and (
        left == right or fuzz.ratio(left, right) >= 90 or left in right or right in left
    )


def _brand_part(supplier_brand: str | None, supplier_title: str, amazon_brand: str | None) -> str:
    if not amazon_brand:
        return "unknown"
    if supplier_brand:
        return "agrees" if _same_brand(supplier_brand, amazon_brand) else "differs"
    words = set(re.split(r"[^\w]+", _plain(supplier_title)))
    return "agrees" if _brand_words(amazon_brand) <= words else "unknown"


def _size_part(
    supplier: Sequence[Size], amazon: Sequence[Size], amazon_pack: int, supplier_pack: int | None
) -> tuple[str, str]:
    """``agrees``/``unknown``/``differs`` and the clause naming the sizes compared: every dimension both
    titles state (weight, volume, pieces) must agree. A supplier that states no pack may give the pack's
    total (``2,4 kg`` for 6 x 400 g)."""
    shared = sorted({s.dimension for s in supplier} & {a.dimension for a in amazon})
    if not shared:
        return "unknown", ""
    totals = (1, amazon_pack) if supplier_pack is None else (1,)
    agreed = []
    for dimension in shared:
        pairs = [
            (x, y) for x in supplier if x.dimension == dimension for y in amazon if y.dimension == dimension
        ]
        same = next(
            (pair for pair in pairs for n in totals if _close(pair[0].amount, pair[1].amount * n)), None
        )
        if same is None:
            return "differs", f"size {pairs[0][0].text} ≠ {pairs[0][1].text}"
        agreed.append(f"size {same[0].text} = {same[1].text}")
    return "agrees", ", ".join(agreed)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= SIZE_TOLERANCE * max(a, b)


def _price_part(supplier_price: Decimal | None, amazon_price: Decimal | None) -> tuple[str, float | None]:
    if not supplier_price or not amazon_price or supplier_price <= 0:
        return "unknown", None
    ratio = float(amazon_price / supplier_price)
    if ratio > PRICE_RULED_OUT or ratio < 1 / PRICE_RULED_OUT:
        return "differs", ratio
    return ("agrees" if PRICE_AGREES[0] <= ratio <= PRICE_AGREES[1] else "off"), ratio


_PART_VALUE = {"agrees": 1.0, "unknown": UNKNOWN, "off": 0.0, "differs": 0.0}


def score_candidate(
    candidate: Candidate,
    supplier: TitleFacts,
    *,
    supplier_title: str,
    supplier_brand: str | None,
    supplier_price: Decimal | None,
    rejected: bool = False,
) -> TitleScore:
    """Score one candidate against the supplier's title, brand and price (rules in the module docstring)."""
    amazon = title_facts(candidate.title or "")
    brand_words = _brand_words(supplier_brand) | _brand_words(candidate.brand)
    similarity = title_similarity(
        [w for w in supplier.words if w not in brand_words], [w for w in amazon.words if w not in brand_words]
    )
    brand = _brand_part(supplier_brand, supplier_title, candidate.brand)
    # a listing's package quantity is often left at 1 under a "Lot de 3" title: the larger wins
    amazon_pack = max(candidate.package_quantity or 1, amazon.pack or 1)
    size, size_text = _size_part(supplier.sizes, amazon.sizes, amazon_pack, supplier.pack)
    pack = "agrees" if (supplier.pack or 1) == amazon_pack else "differs"
    price, ratio = _price_part(supplier_price, candidate.price)
    reasons = [f"title similarity {similarity:.2f}"]
    if brand != "unknown":
        shown = candidate.brand or ""
        reasons.append(f"brand {shown} agrees" if brand == "agrees" else f"brand {shown} ≠ {supplier_brand}")
    else:
        reasons.append("brand unknown")
    reasons.append(size_text if size_text else "size unknown")
    reasons.append(
        f"pack {supplier.pack or 1} = {amazon_pack}"
        if pack == "agrees"
        else f"pack {supplier.pack or 1} ≠ {amazon_pack}"
    )
    reasons.append("price unknown" if ratio is None else f"price ratio {ratio:.2f}")
    ruled_out = None
    if rejected:
        ruled_out = "rejected by a person for this code"
    elif brand == "differs":
        ruled_out = "another brand"
    elif size == "differs":
        ruled_out = "another size"
    elif pack == "differs":
        ruled_out = "another pack count"
    elif price == "differs":
        ruled_out = "price more than 4 times apart"
    parts = {
        "title": similarity,
        "brand": _PART_VALUE[brand],
        "size": _PART_VALUE[size],
        "pack": _PART_VALUE[pack],
        "price": _PART_VALUE[price],
    }
    raw = sum(WEIGHTS[name] * value for name, value in parts.items())
    score = 0.0 if ruled_out else round(MAX_SCORE * raw, 2)
    if ruled_out:
        reasons.append(f"ruled out: {ruled_out}")
    return TitleScore(candidate.asin, score, similarity, brand, size, pack, price, ruled_out, tuple(reasons))


def decide_by_title(
    candidates: Sequence[Candidate],
    *,
    supplier_title: str,
    supplier_brand: str | None = None,
    supplier_price: Decimal | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    rejected: Collection[str] = (),
) -> TitleDecision:
    """Score each candidate of a title search and choose one (rules in the module docstring).

    The result does not depend on the order of ``candidates`` (ties go to the ASIN sorting first); an
    ASIN listed twice counts once. ``rejected`` holds ASINs a person rejected for this code.
    """
    supplier = title_facts(supplier_title, supplier=True)
    unique = {c.asin: c for c in sorted(candidates, key=lambda c: c.asin)}
    scored = sorted(
        (
            score_candidate(
                c,
                supplier,
                supplier_title=supplier_title,
                supplier_brand=supplier_brand,
                supplier_price=supplier_price,
                rejected=c.asin in rejected,
            )
            for c in unique.values()
        ),
        key=lambda s: (-s.score, -s.title_similarity, s.asin),
    )
    shown = f"'{supplier_title}'" + (f" (brand {supplier_brand})" if supplier_brand else "")
    if not scored:
        return TitleDecision(None, 0.0, False, (), f"The title search for {shown} found no item.")
    best = scored[0]
    items = "item" if len(scored) == 1 else "items"
    if best.ruled_out:
        counts: dict[str, int] = {}
        for s in scored:
            counts[s.ruled_out or ""] = counts.get(s.ruled_out or "", 0) + 1
        why = ", ".join(f"{n} {what}" for what, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return TitleDecision(
            None,
            0.0,
            False,
            tuple(scored),
            f"The title search for {shown} found {len(scored)} {items}, none of them this product ({why}).",
        )
    confidence = best.score
    clauses = [
        f"The title search for {shown} found {len(scored)} {items}; {best.asin} scores {best.score:.2f} "
        f"({', '.join(best.reasons)})"
    ]
    runner = next((s for s in scored[1:] if not s.ruled_out), None)
    if runner is not None and best.score - runner.score <= CONTEST_MARGIN:
        confidence = round(confidence * CONTEST_FACTOR, 2)
        clauses.append(
            f"{runner.asin} scores almost as well ({runner.score:.2f}), so the confidence is {confidence:.2f}"
        )
    accepted = confidence >= threshold
    if accepted:
        clauses.append("a title match is never proof: check it")
    else:
        clauses.append(
            f"confidence {confidence:.2f} is below the title threshold {threshold:.2f}, so it is not accepted"
        )
    return TitleDecision(best.asin, confidence, accepted, tuple(scored), "; ".join(clauses) + ".")
