"""The product families of the sandbox's title-search catalogue (``sandbox.titles``): data only.

Every brand is fictional. A family is one product type sold by one brand in a few sizes; its rival brand
sells the same product in one size, and its "ghost" brand is a real-looking brand of the same shelf that
does not sell that product at all (the "another brand" trap). ``ABSENT`` lists product types nobody sells.
"""

from __future__ import annotations

from dataclasses import dataclass

from code2asin.sandbox import words

#: mass and volume units (sizes are numbers of them); anything else is a piece noun ("couches", "piles")
MEASURE_UNITS = frozenset({"g", "kg", "ml", "cl", "l"})

DRINKS = words.DEPARTMENTS[0]  # Amazon.fr files drinks under Epicerie
HEALTH = words.Department(
    "health",
    "Hygiène et Santé",
    "drugstore_display_on_website",
    "197861031",
    "Hygiène",
    "Hygiène",
    (),
    (),
    (),
    (),
    (2.0, 30.0),
)
BABY = words.Department(
    "baby",
    "Bébé et Puériculture",
    "baby_product_display_on_website",
    "206617031",
    "Bébé",
    "Bébé",
    (),
    (),
    (),
    (),
    (1.0, 40.0),
)
_BY_KEY = {d.key: d for d in words.DEPARTMENTS}
GROCERY, BEAUTY, DIY, PETS = _BY_KEY["grocery"], _BY_KEY["beauty"], _BY_KEY["diy"], _BY_KEY["pets"]


@dataclass(frozen=True, slots=True)
class Family:
    """One product type: ``brand`` sells it in ``sizes`` (numbers of ``unit``) from ``price`` (first size)."""

    key: str
    department: words.Department
    words: str
    unit: str
    sizes: tuple[float, ...]
    price: float
    brand: str
    rival: str
    ghost: str
    #: multipack counts usual on that shelf
    packs: tuple[int, ...]


_GROCERY_BRANDS = (
    "Norvella",
    "Cacaline",
    "Douceur d'Antan",
    "Maison Ferrand",
    "Pastavia",
    "Grano d'Oro",
    "Rizière Dorée",
    "Café Belmont",
    "Théodore & Fils",
    "Biscuiterie Lemaire",
    "Vergers de Loire",
    "Ruchers du Morvan",
)
_DRINK_BRANDS = ("Sources Claires", "Aquarelle", "Pétillance", "Bulle d'Or", "Agrumia", "Fontvive")
_BEAUTY_BRANDS = ("Lavandine", "Soyeuse", "Dermaline", "Capillis", "Fraîcheur Alpine", "Blanc d'Ivoire")
_HOME_BRANDS = ("Brillor", "Lessivia", "Éclat Maison", "Douxpap", "Nettissime", "Papyrus")
_PET_BRANDS = ("Croquetto", "Félicat", "Canifest", "Patounet")
_DIY_BRANDS = ("Voltaïs", "Energix", "Fixtout", "Lumicasa", "Bricomax")
_BABY_BRANDS = ("Bébélune", "Petitdoux", "Nounours & Cie", "Câlinou")

_SHELVES: dict[str, tuple[words.Department, tuple[str, ...], tuple[int, ...]]] = {
    "grocery": (GROCERY, _GROCERY_BRANDS, (3, 4, 6)),
    "drinks": (DRINKS, _DRINK_BRANDS, (6, 12, 24)),
    "beauty": (BEAUTY, _BEAUTY_BRANDS, (2, 3, 6)),
    "home": (HEALTH, _HOME_BRANDS, (2, 3, 4)),
    "pets": (PETS, _PET_BRANDS, (3, 6, 12)),
    "diy": (DIY, _DIY_BRANDS, (2, 3, 5)),
    "baby": (BABY, _BABY_BRANDS, (2, 3, 4)),
}

#: (shelf, key, product words, unit, sizes, price of the first size in euros)
_ROWS: tuple[tuple[str, str, str, str, tuple[float, ...], float], ...] = (
    ("grocery", "pate_tartiner", "Pâte à tartiner noisettes cacao", "g", (200, 400, 750, 1000), 2.49),
    ("grocery", "confiture_fraise", "Confiture extra fraises", "g", (370, 750), 2.89),
    ("grocery", "spaghetti", "Spaghetti n°5 au blé dur", "g", (500, 1000), 1.19),
    ("grocery", "penne", "Penne rigate qualité supérieure", "g", (500, 1000), 1.09),
    ("grocery", "riz_basmati", "Riz basmati long grain", "kg", (1, 2, 5), 2.99),
    ("grocery", "cafe_moulu", "Café moulu pur arabica", "g", (250, 500, 1000), 3.49),
    ("grocery", "capsules_cafe", "Capsules de café espresso intense", "capsules", (10, 30, 50), 2.99),
    ("grocery", "the_vert", "Thé vert à la menthe", "sachets", (20, 50, 100), 2.19),
    ("grocery", "petit_beurre", "Biscuits petit beurre", "g", (200, 400), 1.49),
    ("grocery", "muesli", "Céréales muesli croustillant chocolat", "g", (375, 750), 2.79),
    ("grocery", "huile_olive", "Huile d'olive vierge extra", "cl", (50, 75, 100), 5.99),
    ("grocery", "moutarde", "Moutarde de Dijon forte", "g", (210, 370), 1.39),
    ("grocery", "chocolat_noir", "Tablette chocolat noir 70 % cacao", "g", (100, 200), 1.79),
    ("grocery", "compote", "Compote pomme sans sucres ajoutés", "g", (400, 850), 2.29),
    ("grocery", "sauce_tomate", "Sauce tomate au basilic", "g", (400, 680), 1.59),
    ("grocery", "miel", "Miel de fleurs crémeux", "g", (250, 500, 1000), 3.99),
    ("drinks", "eau_plate", "Eau minérale naturelle", "l", (0.5, 1, 1.5), 0.45),
    ("drinks", "eau_gazeuse", "Eau minérale gazeuse fines bulles", "l", (1, 1.25), 0.69),
    ("drinks", "jus_orange", "Jus d'orange 100 % pur jus sans pulpe", "l", (1, 1.5), 2.19),
    ("drinks", "cola", "Soda cola original", "cl", (33, 50, 150), 0.79),
    ("drinks", "limonade", "Limonade artisanale citron", "cl", (33, 75), 1.49),
    ("drinks", "sirop_grenadine", "Sirop de grenadine", "cl", (70, 100), 2.49),
    ("beauty", "shampooing", "Shampooing réparateur cheveux abîmés", "ml", (250, 400), 3.49),
    ("beauty", "gel_douche", "Gel douche surgras amande douce", "ml", (250, 500, 750), 2.29),
    ("beauty", "deodorant", "Déodorant anti-transpirant 48h", "ml", (150, 200), 2.99),
    ("beauty", "creme_visage", "Crème hydratante visage peaux sensibles", "ml", (50, 75), 7.99),
    ("beauty", "dentifrice", "Dentifrice protection caries menthe fraîche", "ml", (75, 125), 1.89),
    ("beauty", "savon_liquide", "Savon de Marseille liquide", "ml", (300, 500, 1000), 2.49),
    ("home", "lessive", "Lessive liquide fraîcheur lavande", "l", (1.5, 2.5, 4), 6.99),
    ("home", "vaisselle", "Liquide vaisselle concentré citron", "ml", (500, 750, 1000), 1.89),
    ("home", "tablettes_lv", "Tablettes lave-vaisselle tout en 1", "tablettes", (30, 60, 90), 5.99),
    ("home", "papier_toilette", "Papier toilette 3 plis douceur", "rouleaux", (6, 12, 24), 3.49),
    ("home", "essuie_tout", "Essuie-tout ultra absorbant", "rouleaux", (2, 4, 6), 2.49),
    ("home", "nettoyant", "Nettoyant multi-surfaces au vinaigre blanc", "ml", (500, 750), 2.79),
    ("home", "sacs_poubelle", "Sacs poubelle à liens coulissants 50 litres", "sacs", (20, 40), 3.29),
    ("pets", "croquettes_chat", "Croquettes pour chat adulte au saumon", "kg", (1.5, 4, 10), 6.99),
    ("pets", "patee_chien", "Pâtée pour chien bouchées en sauce au boeuf", "g", (400, 1250), 1.59),
    ("pets", "litiere", "Litière minérale agglomérante", "l", (5, 10, 20), 4.49),
    ("pets", "friandises_chien", "Friandises pour chien os à mâcher", "g", (200, 500), 2.99),
    ("diy", "piles_aa", "Piles alcalines AA LR6", "piles", (4, 8, 16), 4.99),
    ("diy", "piles_aaa", "Piles alcalines AAA LR03", "piles", (4, 8, 12), 4.49),
    ("diy", "ampoule_led", "Ampoule LED E27 équivalent 60W blanc chaud", "ampoules", (1, 3, 6), 3.99),
    ("diy", "colle_forte", "Colle forte universelle gel", "g", (20, 50), 3.49),
    ("diy", "ruban_masquage", "Ruban adhésif de masquage 25 mm", "rouleaux", (1, 3, 6), 2.99),
    ("diy", "pile_bouton", "Pile bouton lithium CR2032", "piles", (1, 2, 5), 2.49),
    ("baby", "couches_t4", "Couches bébé taille 4 (9-14 kg)", "couches", (32, 54, 96), 9.99),
    ("baby", "couches_t3", "Couches bébé taille 3 (6-10 kg)", "couches", (36, 62, 108), 9.49),
    ("baby", "lingettes", "Lingettes bébé à l'eau sensitive", "lingettes", (56, 72), 1.99),
    ("baby", "lait_croissance", "Lait de croissance 2e âge en poudre", "g", (800, 1200), 11.99),
    ("baby", "petits_pots", "Petits pots carotte patate douce dès 4 mois", "g", (130, 200), 1.29),
)

#: product types no brand sells in the sandbox: (shelf, key, product words, unit, sizes, price)
_ABSENT_ROWS: tuple[tuple[str, str, str, str, tuple[float, ...], float], ...] = (
    ("grocery", "sirop_erable", "Sirop d'érable pur ambré", "ml", (250, 500), 7.49),
    ("grocery", "vinaigre_balsamique", "Vinaigre balsamique de Modène", "cl", (25, 50), 3.29),
    ("grocery", "curry_rouge", "Pâte de curry rouge thaï", "g", (100, 400), 2.59),
    ("drinks", "lait_amande", "Boisson végétale amande sans sucre", "l", (1,), 2.29),
    ("drinks", "the_glace", "Thé glacé saveur pêche", "l", (1.5,), 1.89),
    ("beauty", "bain_bouche", "Bain de bouche fraîcheur intense", "ml", (250, 500), 3.99),
    ("beauty", "shampooing_sec", "Shampooing sec volume", "ml", (150, 200), 4.49),
    ("home", "assouplissant", "Assouplissant concentré fleur de coton", "l", (1, 2), 3.99),
    ("home", "eponges", "Éponges grattantes vertes", "éponges", (3, 10), 1.99),
    ("pets", "granules_lapin", "Granulés pour lapin nain", "kg", (1, 2.5), 4.99),
    ("diy", "piles_9v", "Pile alcaline 9V 6LR61", "piles", (1, 2), 3.99),
    ("baby", "creme_change", "Crème pour le change à l'oxyde de zinc", "ml", (50, 100), 5.49),
)


def _families(rows: tuple[tuple[str, str, str, str, tuple[float, ...], float], ...]) -> tuple[Family, ...]:
    out: list[Family] = []
    for index, (shelf, key, text, unit, sizes, price) in enumerate(rows):
        department, brands, packs = _SHELVES[shelf]
        n = len(brands)
        out.append(
            Family(
                key,
                department,
                text,
                unit,
                sizes,
                price,
                brands[index % n],
                brands[(index + 1) % n],
                brands[(index + 2) % n],
                packs,
            )
        )
    return tuple(out)


FAMILIES: tuple[Family, ...] = _families(_ROWS)
ABSENT: tuple[Family, ...] = _families(_ABSENT_ROWS)
