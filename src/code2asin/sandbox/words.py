"""Word lists the sandbox catalogue builds realistic French product names from.

Each department has the display group and browse node Amazon would file it under, the brands sold in it,
product nouns with the qualifiers and sizes that go with them, and a typical price range in euros.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Department:
    """One shelf of the sandbox store."""

    key: str
    display_name: str  # websiteSalesRank.displayName / salesRanks title
    display_group: str  # SP-API websiteDisplayGroup
    browse_node_id: str
    product_group: str  # itemInfo.classifications.productGroup
    binding: str
    brands: tuple[str, ...]
    nouns: tuple[str, ...]
    qualifiers: tuple[str, ...]
    sizes: tuple[str, ...]
    price_range: tuple[float, float]


DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "grocery", "Epicerie", "grocery_display_on_website", "6359937031", "Epicerie", "Epicerie",
        ("Ferrero", "Bonne Maman", "Lustucru", "Panzani", "Lu", "St Michel", "Carte Noire", "Lipton",
         "Maille", "Amora", "Herta", "Président", "Andros", "Kellogg's", "Nestlé", "Côte d'Or"),
        ("Pâte à tartiner", "Confiture", "Biscuits", "Pâtes", "Café moulu", "Thé vert", "Moutarde",
         "Céréales", "Chocolat noir", "Compote", "Sauce tomate", "Riz basmati", "Galettes"),
        ("noisettes", "bio", "pur beurre", "extra fine", "sans sucre ajouté", "à l'ancienne",
         "intense", "aux fruits rouges", "classique", "caramel beurre salé"),
        ("200 g", "250 g", "400 g", "500 g", "750 g", "1 kg", "330 ml", "1 L"),
        (1.2, 9.9),
    ),
    Department(
        "beauty", "Beauté et Parfum", "beauty_display_on_website", "197858031", "Beauté", "Beauté",
        ("L'Oréal Paris", "Nivea", "Garnier", "Dove", "Vichy", "La Roche-Posay", "Mixa", "Bourjois",
         "Klorane", "Weleda"),
        ("Crème hydratante", "Shampooing", "Gel douche", "Déodorant", "Mascara", "Sérum visage",
         "Lait corps", "Baume à lèvres", "Eau micellaire"),
        ("peaux sensibles", "à l'aloe vera", "nourrissant", "48h", "sans parfum", "éclat",
         "réparateur", "au karité"),
        ("50 ml", "75 ml", "150 ml", "250 ml", "400 ml", "500 ml"),
        (2.5, 29.9),
    ),
    Department(
        "home", "Cuisine et Maison", "home_display_on_website", "57004031", "Cuisine", "Cuisine",
        ("Tefal", "SEB", "Moulinex", "Le Creuset", "Duralex", "Arcopal", "Pyrex", "WMF", "Brabantia"),
        ("Poêle", "Casserole", "Cocotte", "Set de verres", "Plat à gratin", "Couteau de chef",
         "Bouilloire", "Boîte de conservation", "Planche à découper"),
        ("inox", "antiadhésive", "en fonte", "tous feux dont induction", "en verre trempé",
         "compatible lave-vaisselle", "ergonomique"),
        ("20 cm", "24 cm", "28 cm", "1,5 L", "2 L", "4 pièces", "6 pièces"),
        (8.0, 89.0),
    ),
    Department(
        "diy", "Bricolage", "home_improvement_display_on_website", "590748031", "Bricolage", "Outil",
        ("Bosch", "Stanley", "Facom", "Makita", "Black+Decker", "Wolfcraft", "Fischer", "Dexter"),
        ("Perceuse visseuse", "Jeu de tournevis", "Mètre ruban", "Niveau à bulle", "Scie égoïne",
         "Chevilles", "Pince multiprise", "Lampe frontale"),
        ("sans fil", "professionnel", "magnétique", "antidérapant", "compact", "avec coffret"),
        ("18 V", "5 m", "8 m", "60 cm", "12 pièces", "100 pièces"),
        (4.0, 149.0),
    ),
    Department(
        "toys", "Jeux et Jouets", "toy_display_on_website", "322086011", "Jouet", "Jouet",
        ("LEGO", "Playmobil", "Hasbro", "Mattel", "Ravensburger", "Djeco", "Vtech", "Smoby"),
        ("Puzzle", "Jeu de société", "Figurine", "Voiture télécommandée", "Poupée", "Jeu de construction",
         "Peluche"),
        ("pour enfants", "éducatif", "dès 3 ans", "édition famille", "collector", "de voyage"),
        ("500 pièces", "1000 pièces", "30 cm", "2 à 6 joueurs", "lot de 3"),
        (6.0, 79.0),
    ),
    Department(
        "electronics", "High-Tech", "ce_display_on_website", "13921051", "Electronique", "Electronique",
        ("Samsung", "Philips", "Logitech", "SanDisk", "Anker", "JBL", "Sony", "Belkin", "TP-Link"),
        ("Câble USB-C", "Souris sans fil", "Clé USB", "Carte microSD", "Chargeur rapide",
         "Enceinte Bluetooth", "Écouteurs", "Batterie externe", "Ampoule connectée"),
        ("noir", "blanc", "ultra-rapide", "étanche", "compacte", "avec réduction de bruit"),
        ("1 m", "2 m", "32 Go", "64 Go", "128 Go", "20 W", "10000 mAh"),
        (5.0, 119.0),
    ),
    Department(
        "pets", "Animalerie", "pet_products_display_on_website", "1571268031", "Animalerie", "Animalerie",
        ("Purina", "Royal Canin", "Whiskas", "Pedigree", "Ultima", "Felix", "Frolic"),
        ("Croquettes", "Pâtée", "Friandises", "Litière", "Jouet à mâcher", "Gamelle"),
        ("pour chat adulte", "pour chien junior", "au poulet", "au saumon", "stérilisé", "sans céréales"),
        ("85 g", "400 g", "1,5 kg", "4 kg", "10 L"),
        (1.5, 49.0),
    ),
)

BOOK_PUBLISHERS: tuple[str, ...] = (
    "Gallimard", "Folio", "Le Livre de Poche", "Pocket", "Flammarion", "Albin Michel", "Actes Sud",
    "Hachette", "Dunod", "J'ai lu", "Seuil", "Casterman",
)
BOOK_AUTHORS: tuple[str, ...] = (
    "Victor Hugo", "Albert Camus", "Marguerite Duras", "Annie Ernaux", "Michel Bussi", "Guillaume Musso",
    "Joël Dicker", "Fred Vargas", "Amélie Nothomb", "Jules Verne", "Leïla Slimani", "Hergé",
)
BOOK_TITLE_HEADS: tuple[str, ...] = (
    "Le Secret de", "Les Nuits de", "Voyage à", "La Mémoire de", "L'Été à", "Les Enfants de",
    "Retour à", "Le Dernier Hiver à", "Une Saison à", "Le Silence de",
)
BOOK_TITLE_TAILS: tuple[str, ...] = (
    "Saint-Malo", "la rivière", "Montmartre", "l'océan", "Lisbonne", "la forêt", "Marseille",
    "l'archipel", "Carcassonne", "la montagne",
)
BOOK_BINDINGS: tuple[str, ...] = ("Broché", "Poche", "Relié")

BOOKS = Department(
    "books", "Livres", "book_display_on_website", "301061", "Livre", "Broché",
    BOOK_PUBLISHERS, (), (), (), (4.5, 29.0),
)

VARIATION_COLOURS: tuple[str, ...] = ("Noir", "Blanc", "Rouge", "Bleu marine", "Vert sapin", "Gris")
MULTIPACK_QUANTITIES: tuple[int, ...] = (2, 3, 4, 6, 6, 6, 12, 24)
MULTIPACK_FORMATS: tuple[str, ...] = ("Lot de {n}", "Pack de {n}", "(Pack of {n})", "- lot de {n} x")
