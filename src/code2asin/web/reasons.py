"""Row reasons and error messages in the page's language.

The service writes every reason in English (the results file, the API and the logs are English
contracts); the web UI shows them in the reader's language. A reason is composed of fragments from
``barcodes``, ``matching``, ``match_review``, ``jobs.rows``, ``pricing`` and the provider clients
(``"Same code as row 4 (looked up once). B0… carries EAN 3017620422003 as written; title similarity
0.24: check."``), so each rule below turns one English fragment into French, keeping the codes, ASINs,
numbers and upstream messages it carries. ``translate`` applies the rules; ``untranslated`` is what no
rule covered (the tests run every generator through it, so a new English sentence without a French
rule fails them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jinja2 import pass_context

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

#: the building blocks of the patterns
_ASIN = r"(?:B0[0-9A-Z]{8}|\d{9}[0-9X])"  # a book's ASIN is its ISBN-10
_ASINS = rf"{_ASIN}(?:, {_ASIN})*"
_CODE = (
    r"(?:EAN|EAN-8|EAN-13|UPC|UPC-A|UPC-E|GTIN|GTIN-14|ISBN|ISBN-10|ISBN-13|JAN|[A-Z][A-Z0-9_]*)"
    r" [0-9A-Z]+"
)
_SHOWN = r"\d+(?: \(the EAN-8 \d+\))?"
_DEC = r"\d+\.\d+"
_WHAT = (
    r"Creators token endpoint|Creators API(?: \w+)?|SP-API token endpoint \(Login with Amazon\)"
    r"|SP-API(?: \w+)?"
    r"|Keepa product request|Keepa token status"
)
_STORE_ONLY = "such codes are only valid inside one store or company and are never on Amazon"

_WHATS = {
    "Creators token endpoint": "Le point d'accès aux jetons Creators",
    "SP-API token endpoint (Login with Amazon)": "Le point d'accès aux jetons SP-API (Login with Amazon)",
    "Keepa product request": "La requête produit Keepa",
    "Keepa token status": "L'état des jetons Keepa",
}
_BECAUSE = {
    "its identifier is written exactly as the code": "son identifiant est écrit exactement comme le code",
    "it has the closest title": "son titre est le plus proche",
    "it has the buy box": "il a la Buy Box",
    "it has an offer": "il a une offre",
    "it has the best sales rank": "il a le meilleur classement des ventes",
    "its ASIN sorts first (nothing else separates them)":
        "son ASIN vient en premier (rien d'autre ne les départage)",
}
#: candidate reasons that are a whole phrase on their own (``matching._score``)
_WHOLE = {
    "buy box": "Buy Box",
    "offer without buy box": "offre sans Buy Box",
    "no offer": "aucune offre",
    "product bundle": "lot de produits",
    "variation parent": "parent de variation",
    "no identifier agrees with the code": "aucun identifiant ne correspond au code",
    "Amazon returned no identifiers": "Amazon n'a renvoyé aucun identifiant",
    "not returned": "non renvoyé",
}


#: a title search's query as reasons quote it: ``'the title'`` and, when known, `` (brand X)``
_SEARCHED = r"'(?P<q>.*?)'(?: \(brand (?P<qb>[^()]*)\))?"
_RULED_OUT = {
    "another brand": "autre marque",
    "another size": "autre taille",
    "another pack count": "autre nombre d'unités",
    "price more than 4 times apart": "prix plus de 4 fois différent",
    "rejected by a person for this code": "refusé par une personne pour ce code",
}


def _searched(m: re.Match[str]) -> str:
    return f"« {m['q']} »" + (f" (marque {m['qb']})" if m["qb"] else "")


def _ruled_out_counts(text: str) -> str:
    """``3 another size, 1 another brand`` in French."""
    parts = []
    for part in text.split(", "):
        count, _, what = part.partition(" ")
        parts.append(f"{count} {_RULED_OUT.get(what, what)}")
    return ", ".join(parts)


def _dec(text: str) -> str:
    """A decimal written the French way (``0.24`` -> ``0,24``)."""
    return text.replace(".", ",")


def _shown(text: str) -> str:
    return text.replace("(the EAN-8 ", "(l'EAN-8 ")


def _what(text: str) -> str:
    return _WHATS.get(text, text)


def _g(m: re.Match[str], name: str) -> str:
    """An optional ``: upstream message`` tail, with the French space before the colon."""
    text = m.group(name) or ""
    return " " + text if text.startswith(":") else text


def _rules() -> list[Rule]:
    raw: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        # -- title_match: the title search fallback ---------------------------------------------
        (rf"The title search for {_SEARCHED} found no item\.",
         lambda m: f"La recherche par désignation {_searched(m)} n'a trouvé aucun article."),
        (rf"The title search for {_SEARCHED} found (?P<n>\d+) items?, none of them this product "
         r"\((?P<w>[^()]*)\)\.",
         lambda m: f"La recherche par désignation {_searched(m)} a trouvé {m['n']} article(s), aucun n'est "
                   f"ce produit ({_ruled_out_counts(m['w'])})."),
        (rf"The title search for {_SEARCHED} found (?P<n>\d+) items?; (?P<a>{_ASIN}) scores (?P<s>{_DEC})",
         lambda m: f"La recherche par désignation {_searched(m)} a trouvé {m['n']} article(s) ; "
                   f"{m['a']} obtient {_dec(m['s'])}"),
        (rf"(?P<a>{_ASIN}) scores almost as well \((?P<s>{_DEC})\), so the confidence is (?P<c>{_DEC})",
         lambda m: f"{m['a']} obtient presque autant ({_dec(m['s'])}), la confiance est donc de "
                   f"{_dec(m['c'])}"),
        (rf"Remembered decision: (?P<w>.+?) accepted (?P<a>{_ASIN}) for this code of supplier (?P<s>.+?) on "
         r"(?P<d>\d{4}-\d\d-\d\d|an earlier day)\.",
         lambda m: f"Décision mémorisée : {m['w']} a accepté {m['a']} pour ce code du fournisseur {m['s']} "
                   f"le {m['d']}." if m["d"][0].isdigit() else
                   f"Décision mémorisée : {m['w']} a accepté {m['a']} pour ce code du fournisseur {m['s']}."),
        (rf"Left out (?P<a>{_ASINS}): rejected by a person for this supplier's code\.",
         lambda m: f"Écarté(s) : {m['a']}, refusé(s) par une personne pour ce code du fournisseur."),
        (r"No stage of this plan searches by title\.",
         lambda m: "Aucune étape de ce plan ne cherche par désignation."),
        (r"a title match is never proof: check it",
         lambda m: "une correspondance par désignation n'est jamais une preuve : vérifiez-la"),
        (rf"confidence (?P<c>{_DEC}) is below the title threshold (?P<t>{_DEC}), so it is not accepted",
         lambda m: f"la confiance {_dec(m['c'])} est sous le seuil par désignation {_dec(m['t'])}, elle "
                   "n'est donc pas acceptée"),
        (r"brand (?P<b>[^,()]*?) agrees", lambda m: f"marque {m['b']} identique"),
        (r"brand (?P<b>[^,()]*?) ≠ (?P<c>[^,()]*)", lambda m: f"marque {m['b']} ≠ {m['c']}"),
        (r"(?P<w>brand|size|price) unknown",
         lambda m: {"brand": "marque inconnue", "size": "taille inconnue", "price": "prix inconnu"}[m["w"]]),
        (r"size (?P<a>[^,()=≠]+?) (?P<op>[=≠]) (?P<b>[^,()]+)",
         lambda m: f"taille {_dec(m['a'])} {m['op']} {_dec(m['b'])}"),
        (r"pack (?P<a>\d+) (?P<op>[=≠]) (?P<b>\d+)", lambda m: f"lot {m['a']} {m['op']} {m['b']}"),
        (rf"price ratio (?P<r>{_DEC})", lambda m: f"rapport de prix {_dec(m['r'])}"),
        (r"ruled out: (?P<w>[a-z0-9 ]+)", lambda m: f"écarté : {_RULED_OUT.get(m['w'], m['w'])}"),
        (r"The title search is counted for (?P<p>\d+)% of the (?P<n>\d+) codes with a title \(about one "
         r"code in six is not found by barcode\): (?P<s>\d+) searches expected, at most (?P<m>\d+)\.",
         lambda m: f"La recherche par désignation est comptée pour {m['p']} % des {m['n']} codes ayant une "
                   f"désignation (environ un code sur six est introuvable par code-barres) : {m['s']} "
                   f"recherches prévues, {m['m']} au plus."),
        # -- jobs.rows: the wrappers around a reason --------------------------------------------
        (r"Same code as row (?P<r>\d+) \(looked up once\)\.",
         lambda m: f"Même code que la ligne {m['r']} (recherché une seule fois)."),
        (r" \(not sent yet, no attempt spent; next try at (?P<t>\d\d:\d\d) UTC\)",
         lambda m: f" (pas encore envoyé, aucune tentative comptée ; prochain essai à {m['t']} UTC)"),
        (r" \(attempt (?P<a>\d+) of (?P<n>\d+); next try at (?P<t>\d\d:\d\d) UTC\)",
         lambda m: f" (tentative {m['a']} sur {m['n']} ; prochain essai à {m['t']} UTC)"),
        (r" \(attempt (?P<a>\d+) of (?P<n>\d+)\)", lambda m: f" (tentative {m['a']} sur {m['n']})"),
        (r" \(gave up after (?P<n>\d+) attempts\)", lambda m: f" (abandon après {m['n']} tentatives)"),
        # -- barcodes ---------------------------------------------------------------------------
        (r"Empty cell: there is no barcode to look up\.",
         lambda m: "Cellule vide : il n'y a aucun code-barres à rechercher."),
        (r"(?P<v>\S+(?: \d\d:\d\d(?::\d\d)?)?) is a date or time, not a barcode: format the column as Text\.",
         lambda m: f"{m['v']} est une date ou une heure, pas un code-barres : mettez la colonne au "
                   "format Texte."),
        (r"(?P<v>\S+) is a yes/no value, not a barcode\.",
         lambda m: f"{m['v']} est une valeur oui/non, pas un code-barres."),
        (r"(?P<v>\S+) is a fractional number, not a barcode\.",
         lambda m: f"{m['v']} est un nombre décimal, pas un code-barres."),
        (r"(?P<v>\S+) is a negative number, not a barcode\.",
         lambda m: f"{m['v']} est un nombre négatif, pas un code-barres."),
        (r"(?P<v>\S+) is not a barcode\.", lambda m: f"{m['v']} n'est pas un code-barres."),
        (r"Only digits are allowed in a barcode, not (?P<s>.+?) \((?P<v>[^()]*)\)\.",
         lambda m: f"Un code-barres ne contient que des chiffres, pas {m['s']} ({m['v']})."),
        (r"(?P<d>\d+) is all zeros: a placeholder, not a barcode\.",
         lambda m: f"{m['d']} ne contient que des zéros : un bouche-trou, pas un code-barres."),
        (r"Scientific notation \((?P<s>[^()]*)\): the spreadsheet rounded this code and its digits are lost; "
         r"format the column as Text in the source file and export again\.",
         lambda m: f"Notation scientifique ({m['s']}) : le tableur a arrondi ce code et ses chiffres sont "
                   "perdus ; mettez la colonne au format Texte dans le fichier source et exportez-le "
                   "à nouveau."),
        (r"[Ww]ritten in scientific notation but with every digit \((?P<s>[^()]*)\)",
         lambda m: f"écrit en notation scientifique mais avec tous ses chiffres ({m['s']})"),
        (r"Check digit is (?P<a>\w) but should be (?P<b>\w) for an? (?P<t>[A-Z][A-Z0-9-]+)"
         r"(?: \(or (?P<c>\w) for a UPC-E\))? \((?P<d>\w+)\)",
         lambda m: f"La clé de contrôle est {m['a']} mais devrait être {m['b']} pour un {m['t']}"
                   + (f" (ou {m['c']} pour un UPC-E)" if m["c"] else "") + f" ({m['d']})"),
        (r", and restoring dropped zeros does not give a valid UPC-A either",
         lambda m: ", et rétablir les zéros perdus ne donne pas non plus un UPC-A valide"),
        (r", and restoring dropped zeros does not give a valid check digit either",
         lambda m: ", et rétablir les zéros perdus ne donne pas non plus une clé de contrôle valide"),
        (r"13 digits expected for EAN-13, 12 for UPC-A, 8 for EAN-8/UPC-E, 14 for GTIN-14, 10 for ISBN-10; "
         r"got (?P<n>\d+) digits? \((?P<d>\w+)\)",
         lambda m: "13 chiffres attendus pour un EAN-13, 12 pour un UPC-A, 8 pour un EAN-8/UPC-E, 14 pour un "
                   f"GTIN-14, 10 pour un ISBN-10 ; {m['n']} chiffres reçus ({m['d']})"),
        (r"[Rr]ead as ISBN-10; it would also be a valid UPC-A (?P<u>\d+)",
         lambda m: f"lu comme ISBN-10 ; ce serait aussi un UPC-A valide {m['u']}"),
        (r"[Rr]ead as EAN-8; as a UPC-E it would be the UPC-A (?P<u>\d+)",
         lambda m: f"lu comme EAN-8 ; en UPC-E, ce serait l'UPC-A {m['u']}"),
        (r"[Rr]ead as UPC-E: an EAN-8 starting with 0 would be an in-store code",
         lambda m: "lu comme UPC-E : un EAN-8 commençant par 0 serait un code interne à un magasin"),
        (r"979-0 is an ISMN \(printed music\), not an ISBN",
         lambda m: "979-0 est un ISMN (partition musicale), pas un ISBN"),
        (r"(?P<c>\d+) expands to the UPC-A (?P<u>\d+), a range GS1 keeps free for EAN-8: not a product\.",
         lambda m: f"{m['c']} se développe en UPC-A {m['u']}, une plage que GS1 laisse libre pour les "
                   "EAN-8 : "
                   "pas un produit."),
        (r"(?P<c>\d+) is the EAN-8 (?P<e>\d+) written with (?P<n>\d+) leading zeros",
         lambda m: f"{m['c']} est l'EAN-8 {m['e']} écrit avec {m['n']} zéros en tête"),
        (r"[Ii]ndicator digit 9 marks a variable-measure trade item",
         lambda m: "le chiffre indicateur 9 signale un article à mesure variable"),
        (r"(?P<n>\d+) leading zeros? restored \(spreadsheets drop them\): (?P<a>\d+) -> (?P<b>\d+)",
         lambda m: (f"{m['n']} zéro en tête rétabli (les tableurs le suppriment)" if m["n"] == "1" else
                    f"{m['n']} zéros en tête rétablis (les tableurs les suppriment)")
                   + f" : {m['a']} -> {m['b']}"),
        (rf"(?P<s>{_SHOWN}) is an in-store/variable-measure code \(UPC number system 2, prefix (?P<p>\d+)\)",
         lambda m: f"{_shown(m['s'])} est un code interne à poids variable (système UPC 2, "
                   f"préfixe {m['p']})"),
        (rf"(?P<s>{_SHOWN}) is an in-store code \(UPC number system 4, prefix (?P<p>\d+)\)",
         lambda m: f"{_shown(m['s'])} est un code interne à un magasin (système UPC 4, préfixe {m['p']})"),
        (rf"(?P<s>{_SHOWN}) is an in-store/variable-measure code \(prefix (?P<p>\d+)\)",
         lambda m: f"{_shown(m['s'])} est un code interne à poids variable (préfixe {m['p']})"),
        (rf"(?P<s>{_SHOWN}) is an in-store code \(RCN-8, EAN-8 prefix (?P<p>\d)\)",
         lambda m: f"{_shown(m['s'])} est un code interne à un magasin (RCN-8, préfixe EAN-8 {m['p']})"),
        (rf"(?P<s>{_SHOWN}) is in the reserved prefix (?P<p>\d+) \(formerly UPC coupons\), not a product",
         lambda m: f"{_shown(m['s'])} est dans le préfixe réservé {m['p']} (anciens coupons UPC), "
                   "pas un produit"),
        (rf"(?P<s>{_SHOWN}) is an EPC General Manager Number \(prefix 951\), not a product",
         lambda m: f"{_shown(m['s'])} est un numéro EPC General Manager (préfixe 951), pas un produit"),
        (rf"(?P<s>{_SHOWN}) is a GS1 demonstration code \(prefix 952\), not a product",
         lambda m: f"{_shown(m['s'])} est un code de démonstration GS1 (préfixe 952), pas un produit"),
        (rf"(?P<s>{_SHOWN}) is a refund receipt \(prefix 980\)",
         lambda m: f"{_shown(m['s'])} est un bon de remboursement (préfixe 980)"),
        (rf"(?P<s>{_SHOWN}) is a coupon \(prefix (?P<p>\d+)\)",
         lambda m: f"{_shown(m['s'])} est un coupon (préfixe {m['p']})"),
        (rf": {_STORE_ONLY}",
         lambda m: " : ces codes ne valent qu'au sein d'un magasin ou d'une entreprise et ne sont jamais "
                   "sur Amazon"),
        (r", not a product, and is never on Amazon", lambda m: ", pas un produit, et jamais sur Amazon"),
        # -- matching: the chosen item and why ----------------------------------------------------
        (rf"(?P<a>{_ASIN}) carries (?P<c>{_CODE}) as written(?: \(listed as (?P<l>\w+)\))?",
         lambda m: f"{m['a']} porte le code {m['c']} tel qu'il est écrit"
                   + (f" (sous la forme {m['l']})" if m["l"] else "")),
        (rf"(?P<a>{_ASIN}) carries (?P<p>{_CODE}), the same GTIN as (?P<c>{_CODE}) after normalisation",
         lambda m: f"{m['a']} porte le code {m['p']}, le même GTIN que {m['c']} après normalisation"),
        (rf"(?P<a>{_ASIN}) is a variation parent \(cannot be bought\) carrying (?P<c>{_CODE})",
         lambda m: f"{m['a']} est un parent de variation (non achetable) qui porte le code {m['c']}"),
        (r"no buyable item carries the code", lambda m: "aucun article achetable ne porte ce code"),
        (rf"(?P<a>{_ASIN}) is a multipack \(x(?P<n>\d+)\) carrying (?P<c>{_CODE})",
         lambda m: f"{m['a']} est un lot (x{m['n']}) qui porte le code {m['c']}"),
        (rf"(?P<a>{_ASIN}) is a product bundle carrying (?P<c>{_CODE})",
         lambda m: f"{m['a']} est un lot de produits qui porte le code {m['c']}"),
        (r"the code identifies the unit, so the match is partial",
         lambda m: "le code identifie l'unité, la correspondance est donc partielle"),
        (rf"[Nn]o identifier agrees with (?P<c>{_CODE})",
         lambda m: f"aucun identifiant ne correspond à {m['c']}"),
        (rf"(?P<a>{_ASIN}) chosen on title similarity (?P<s>{_DEC})",
         lambda m: f"{m['a']} choisi sur la similarité des titres ({_dec(m['s'])})"),
        (r"(?P<n>\d+) ASINs carry this code", lambda m: f"{m['n']} ASIN portent ce code"),
        (r"(?P<n>\d+) ASINs have titles close to the supplier title",
         lambda m: f"{m['n']} ASIN ont un titre proche de celui du fournisseur"),
        (rf"chose (?P<a>{_ASIN}) because (?P<w>{'|'.join(re.escape(k) for k in _BECAUSE)})",
         lambda m: f"{m['a']} choisi car {_BECAUSE[m['w']]}"),
        (rf"preferred the single unit over multipack (?P<l>{_ASINS})",
         lambda m: f"l'unité préférée au lot {m['l']}"),
        (rf"preferred a buyable item over variation parent (?P<l>{_ASINS})",
         lambda m: f"un article achetable préféré au parent de variation {m['l']}"),
        (rf"[Cc]onfidence (?P<c>{_DEC}) is below the threshold (?P<t>{_DEC}), "
         r"so it is reported, not accepted",
         lambda m: f"la confiance {_dec(m['c'])} est sous le seuil {_dec(m['t'])} : signalé, non accepté"),
        (rf"Amazon returned no item for (?P<c>{_CODE})\.",
         lambda m: f"Amazon n'a renvoyé aucun article pour {m['c']}."),
        (rf"None of the (?P<n>\d+) Amazon items? carries (?P<c>{_CODE}) "
         r"(?P<t>and no title is close enough to the supplier title"
         r"|and there is no supplier title to compare)\.",
         lambda m: (f"L'article Amazon renvoyé ne porte pas {m['c']}" if m["n"] == "1" else
                    f"Aucun des {m['n']} articles Amazon ne porte {m['c']}")
                   + (" et aucun titre n'est assez proche de celui du fournisseur." if "close" in m["t"] else
                      " et il n'y a pas de titre fournisseur à comparer.")),
        # -- matching: one candidate's reasons -----------------------------------------------------
        (rf"identifier proof: (?P<c>{_CODE})", lambda m: f"preuve d'identifiant : {m['c']}"),
        (rf"(?P<c>{_CODE}) equals the code after normalisation",
         lambda m: f"{m['c']} égale le code après normalisation"),
        (r"multipack x(?P<n>\d+) \(package quantity (?P<q>\d+)\)",
         lambda m: f"lot x{m['n']} (quantité par colis {m['q']})"),
        (r"multipack x(?P<n>\d+) \(title '(?P<t>[^']*)'\)", lambda m: f"lot x{m['n']} (titre « {m['t']} »)"),
        (rf"variation of (?P<a>{_ASIN})", lambda m: f"variation de {m['a']}"),
        (r"sales rank (?P<r>\d[\d ]*)", lambda m: f"classement des ventes {m['r']}"),
        # -- match_review -------------------------------------------------------------------------
        (rf"title similarity (?P<s>{_DEC})", lambda m: f"similarité des titres {_dec(m['s'])}"),
        (r"price (?P<d>[+-]\d+) %", lambda m: f"prix {m['d']} %"),
        (rf"supplier ASIN (?P<a>{_ASIN}) differs", lambda m: f"l'ASIN du fournisseur {m['a']} diffère"),
        (r": check\b", lambda m: " : à vérifier"),
        # -- provider clients -----------------------------------------------------------------------
        (r"The provider gave no answer for this code\.",
         lambda m: "La source de données n'a pas répondu pour ce code."),
        (rf"(?P<w>{_WHAT}) timed out \((?P<e>\w+)\)",
         lambda m: f"{_what(m['w'])} : délai dépassé ({m['e']})"),
        (rf"(?P<w>{_WHAT}) could not be reached \((?P<e>\w+)\)",
         lambda m: f"{_what(m['w'])} : injoignable ({m['e']})"),
        (rf"(?P<w>{_WHAT}) answered HTTP (?P<s>\d+) with a body that is not JSON",
         lambda m: f"{_what(m['w'])} a répondu HTTP {m['s']} avec un corps qui n'est pas du JSON"),
        (rf"(?P<w>{_WHAT}) answered JSON that is not an object",
         lambda m: f"{_what(m['w'])} a répondu un JSON qui n'est pas un objet"),
        (rf"(?P<w>{_WHAT}) answered without an access_token",
         lambda m: f"{_what(m['w'])} a répondu sans access_token"),
        (rf"(?P<w>{_WHAT}): not enough Keepa tokens \(HTTP 429(?P<d>[^()]*)\)",
         lambda m: f"{_what(m['w'])} : pas assez de jetons Keepa (HTTP 429{m['d']})"),
        (rf"(?P<w>{_WHAT}) throttled \(HTTP 429\)(?P<r>: .*)?",
         lambda m: f"{_what(m['w'])} a limité le débit (HTTP 429){_g(m, 'r')}"),
        (rf"(?P<w>{_WHAT}) answered HTTP (?P<s>\d+)(?P<r>: .*)?",
         lambda m: f"{_what(m['w'])} a répondu HTTP {m['s']}{_g(m, 'r')}"),
        (rf"(?P<w>{_WHAT}) rejected the request: (?P<r>.*)",
         lambda m: f"{_what(m['w'])} a rejeté la requête : {m['r']}"),
        (rf"(?P<w>{_WHAT}) rejected: (?P<r>.*)", lambda m: f"{_what(m['w'])} a rejeté : {m['r']}"),
        (rf"Creators getItems has no item (?P<a>{_ASIN}): (?P<r>.*)",
         lambda m: f"Creators getItems n'a pas d'article {m['a']} : {_WHOLE.get(m['r'], m['r'])}"),
        (rf"SP-API has no price data for (?P<a>{_ASIN}): (?P<r>.*)",
         lambda m: f"SP-API n'a pas de prix pour {m['a']} : {_WHOLE.get(m['r'], m['r'])}"),
        (rf"Keepa has no data for (?P<a>{_ASIN}) on (?P<h>[\w.]+)\.",
         lambda m: f"Keepa n'a pas de données pour {m['a']} sur {m['h']}."),
        (r"Keepa has (?P<n>-?\d+) tokens left and serves a call only while the balance is positive: waiting "
         r"for the refill \((?P<r>\d+) tokens per refill\)\.",
         lambda m: f"Il reste {m['n']} jetons Keepa, qui ne sert un appel que si le solde est positif : "
                   f"attente de la recharge ({m['r']} jetons par recharge)."),
        # -- the estimate's assumptions (jobs.estimate) ------------------------------------------------
        (r"Keepa charges a token per product it returns: the tokens count (?P<n>[\d.]+) per code sent "
         r"\(about one code in six is not found, and a code found returns (?P<p>[\d.]+) products on "
         r"average\)\.",
         lambda m: f"Keepa compte un jeton par produit renvoyé : les jetons comptent {_dec(m['n'])} par code "
                   f"envoyé (environ un code sur six est introuvable, et un code trouvé renvoie "
                   f"{_dec(m['p'])} produit en moyenne)."),
        (r"The Keepa balance is not known yet: the time assumes it covers the (?P<n>\d+) tokens\.",
         lambda m: f"Le solde Keepa n'est pas encore connu : la durée suppose qu'il couvre les {m['n']} "
                   "jetons."),
        (r"Enrichment counts (?P<n>[\d.]+) ASIN per code looked up; codes with several candidates cost more, "
         r"codes not found cost nothing\.",
         lambda m: f"L'enrichissement compte {_dec(m['n'])} ASIN par code recherché ; les codes à plusieurs "
                   "candidats coûtent plus, les codes introuvables ne coûtent rien."),
        # -- caps (jobs.runner) -----------------------------------------------------------------------
        (r"Paused: the job reached its cap of (?P<n>\d+) provider calls \(max_calls\); resume it with a "
         r"higher cap to go on\.",
         lambda m: f"En pause : le job a atteint son plafond de {m['n']} appels aux sources (max_calls) ; "
                   "reprenez-le avec un plafond plus haut pour continuer."),
        (r"Paused: the next Keepa call needs (?P<c>\d+) tokens and the job has spent (?P<s>\d+) of its "
         r"(?P<n>\d+) \(max_keepa_tokens\); resume it with a higher cap to go on\.",
         lambda m: f"En pause : le prochain appel Keepa demande {m['c']} jetons et le job en a dépensé "
                   f"{m['s']} sur {m['n']} (max_keepa_tokens) ; reprenez-le avec un plafond plus haut "
                   "pour continuer."),
        # -- manual validation, price runs and alerts ------------------------------------------------
        (r"Validated by hand by (?P<a>.+)\.",
         lambda m: "Validé à la main par "
                   + ("un acteur inconnu" if m["a"] == "an unknown actor" else m["a"]) + "."),
        (rf"Rejected by (?P<a>.+?): (?P<asin>{_ASIN}) is not this product\.",
         lambda m: "Rejeté par " + ("un acteur inconnu" if m["a"] == "an unknown actor" else m["a"])
                   + f" : {m['asin']} n'est pas ce produit."),
        (r"No offer \(out of stock\)", lambda m: "Aucune offre (rupture de stock)"),
        (r"Price (?P<p>\d+(?:\.\d+)?) (?P<c>[A-Z]{3})", lambda m: f"Prix {_dec(m['p'])} {m['c']}"),
        (r"The product is out of stock \(no offer\)\.",
         lambda m: "Le produit est en rupture de stock (aucune offre)."),
        (r"The product is back in stock(?: at (?P<p>\S+) (?P<c>[A-Z]{3}))?\.",
         lambda m: "Le produit est de nouveau en stock"
                   + (f" à {_dec(m['p'])} {m['c']}" if m["p"] else "") + "."),
        (r"Price moved (?P<d>[+-][\d.]+)% \((?P<a>\S+) -> (?P<b>\S+) (?P<c>[A-Z]{3})\), over "
         r"the (?P<t>[\d.]+)% threshold\.",
         lambda m: f"Le prix a varié de {_dec(m['d'])} % ({_dec(m['a'])} -> {_dec(m['b'])} {m['c']}), "
                   f"au-delà du seuil de {_dec(m['t'])} %."),
        (r"The Amazon price went (?P<s>at or above|below) the supplier price (?P<p>\S+) "
         r"\((?P<a>\S+) -> (?P<b>\S+) (?P<c>[A-Z]{3})\)\.",
         lambda m: "Le prix Amazon est passé "
                   + ("au niveau ou au-dessus du" if m["s"] != "below" else "sous le")
                   + f" prix fournisseur {_dec(m['p'])} ({_dec(m['a'])} -> {_dec(m['b'])} {m['c']})."),
    ]
    return [(re.compile(pattern), build) for pattern, build in raw]


RULES = _rules()
#: what may stay between translated fragments: punctuation and spaces
_JOINERS = re.compile(r"[\s.,;:()]*")


def _segments(text: str) -> list[tuple[str, bool]]:
    """``text`` as (piece, translated) pairs, each rule applied to what earlier rules left."""
    pieces: list[tuple[str, bool]] = [(text, False)]
    for pattern, build in RULES:
        out: list[tuple[str, bool]] = []
        for piece, done in pieces:
            if done:
                out.append((piece, done))
                continue
            start = 0
            for m in pattern.finditer(piece):
                if m.start() > start:
                    out.append((piece[start:m.start()], False))
                french = build(m)
                if m.group(0)[:1].isupper():
                    french = french[:1].upper() + french[1:]
                out.append((french, True))
                start = m.end()
            if start < len(piece):
                out.append((piece[start:], False))
        pieces = out
    return pieces


def _french(text: str) -> str:
    if text in _WHOLE:
        return _WHOLE[text]
    out = []
    for piece, done in _segments(text):
        # French typography: a space before the two-part marks between fragments
        out.append(piece if done else re.sub(r"(?<! )([;:])", r" \1", piece))
    return "".join(out)


def translate(text: str | None, lang: str) -> str:
    """``text`` (an English reason or error message) in ``lang``; English, or empty, as is."""
    if not text or lang != "fr":
        return text or ""
    return _french(text)


def untranslated(text: str) -> str:
    """What of ``text`` no French rule covered, spaces and punctuation aside (empty: fully translated)."""
    if text in _WHOLE:
        return ""
    left = "".join(piece for piece, done in _segments(text) if not done)
    return "" if _JOINERS.fullmatch(left) else left.strip()


def install(filters: dict[str, Any]) -> None:
    """The Jinja filter ``reason``: an English reason in the page's ``lang``."""

    @pass_context
    def reason(ctx: Any, text: str | None) -> str:
        return translate(text, ctx.get("lang", "en"))

    filters["reason"] = reason
