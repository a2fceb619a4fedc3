"""Guessing what a label is (its kind) and how a caption phrases it, for vocabularies that come
without written knowledge (lzt.vocab.knowledge).

A kind given in the vocabulary file (`beach: seaside [scene]`) always wins. Otherwise the guess
goes, in this order (the first rule that fires decides):

1. style: the label contains a photo-style word ("black and white", "macro", "aerial",
   "panorama", "selfie", "bokeh", "long exposure", "sepia", "monochrome", "close-up") or ends
   in "photo", "photography", "shot" or "view";
2. the label's last word (singular) is in one of the word lists below: weather and time of day
   or season, event, scene (places and landscapes), person, animal, vehicle, plant, food,
   material;
3. activity: the last word ends in "-ing" and is not a noun that merely ends so ("building",
   "painting" is an activity, "ceiling", "wedding", "pudding" are not);
4. object, for everything else.

The phrasing follows from the kind: "a dog" (count nouns, with `a`/`an` by sound), "rice" (mass
nouns in the list below take no article), "a beach" / "on a beach" (scenes, with the preposition
of the list below, "in" otherwise), "at a wedding" (events), "in the rain" / "at sunset" / "in
autumn" (weather), "people skiing" / "skiing" (activities), "a macro photo" (styles that are not
nouns themselves; "a selfie", "an aerial view" are).
"""

from __future__ import annotations

import re
from typing import Sequence

from lzt.vocab.forms import UNCHANGED_PLURALS, article
from lzt.vocab.vocabulary import Label

_STYLE_WORDS = (
    "black and white", "monochrome", "macro", "aerial", "panorama", "panoramic", "selfie", "bokeh", "long exposure",
    "sepia", "close-up", "closeup", "silhouette", "hdr", "tilt-shift", "fisheye", "double exposure", "infrared",
    "time-lapse", "minimalist", "minimalism", "flat lay", "still life", "portrait", "headshot", "snapshot",
    "photography",
)
_STYLE_HEADS = {"photo", "photograph", "photography", "shot", "view", "picture", "image"}
# Style labels that are nouns themselves ("a selfie"); others get "photo" ("a macro photo").
_STYLE_NOUNS = {"selfie", "portrait", "panorama", "silhouette", "snapshot", "headshot", "close-up", "closeup", "collage", "illustration"}

_WEATHER = {
    # word: (noun phrase, prepositional phrase)
    "rain": ("rain", "in the rain"), "snow": ("snow", "in the snow"), "fog": ("fog", "in the fog"),
    "mist": ("mist", "in the mist"), "haze": ("haze", "in the haze"), "storm": ("a storm", "during a storm"),
    "thunderstorm": ("a thunderstorm", "during a thunderstorm"), "lightning": ("lightning", "under lightning"),
    "sunset": ("a sunset", "at sunset"), "sunrise": ("a sunrise", "at sunrise"), "dusk": ("dusk", "at dusk"),
    "dawn": ("dawn", "at dawn"), "twilight": ("twilight", "at twilight"), "night": ("the night", "at night"),
    "nighttime": ("nighttime", "at nighttime"), "midnight": ("midnight", "at midnight"),
    "morning": ("the morning", "in the morning"), "evening": ("the evening", "in the evening"),
    "afternoon": ("the afternoon", "in the afternoon"), "autumn": ("autumn", "in autumn"), "fall": ("fall", "in the fall"),
    "winter": ("winter", "in winter"), "summer": ("summer", "in summer"), "spring": ("spring", "in spring"),
    "rainbow": ("a rainbow", "under a rainbow"), "cloud": ("clouds", "under clouds"), "clouds": ("clouds", "under clouds"),
    "sunshine": ("sunshine", "in the sunshine"), "sunlight": ("sunlight", "in the sunlight"), "frost": ("frost", "in the frost"),
    "hail": ("hail", "in the hail"), "wind": ("wind", "in the wind"), "drizzle": ("drizzle", "in a drizzle"),
    "blizzard": ("a blizzard", "in a blizzard"), "tornado": ("a tornado", "during a tornado"), "eclipse": ("an eclipse", "during an eclipse"),
    "heatwave": ("a heatwave", "during a heatwave"), "golden hour": ("the golden hour", "at golden hour"),
    "blue hour": ("the blue hour", "at blue hour"), "overcast": ("an overcast sky", "under an overcast sky"),
}
_EVENTS = {
    "wedding", "party", "birthday", "festival", "concert", "parade", "graduation", "ceremony", "funeral", "carnival",
    "celebration", "conference", "meeting", "protest", "rally", "marathon", "race", "match", "game", "tournament",
    "christmas", "halloween", "easter", "thanksgiving", "new year", "fireworks", "picnic", "barbecue", "reunion",
    "exhibition", "fair", "show", "performance", "premiere", "anniversary", "baptism", "prom", "dinner party",
    "tea party", "pool party", "holiday", "vacation", "trip", "celebrations",
}
_SCENES = {
    "beach", "forest", "street", "kitchen", "bedroom", "bathroom", "living room", "office", "park", "garden", "city",
    "town", "village", "mountain", "lake", "river", "field", "desert", "jungle", "island", "coast", "shore", "ocean",
    "sea", "sky", "road", "highway", "bridge", "harbor", "harbour", "port", "airport", "station", "stadium", "market",
    "restaurant", "cafe", "bar", "classroom", "library", "museum", "church", "temple", "castle", "farm", "zoo",
    "playground", "pool", "waterfall", "valley", "canyon", "cave", "glacier", "volcano", "hill", "meadow", "woods",
    "countryside", "cityscape", "skyline", "landscape", "seascape", "room", "hall", "house", "building", "garage",
    "yard", "backyard", "courtyard", "square", "plaza", "alley", "sidewalk", "parking lot", "campsite", "trail",
    "slope", "pier", "dock", "marina", "swamp", "marsh", "pond", "stream", "creek", "reef", "lagoon", "bay", "cliff",
    "dune", "prairie", "savanna", "tundra", "rainforest", "orchard", "vineyard", "greenhouse", "barn", "stable",
    "shop", "store", "supermarket", "mall", "gym", "studio", "theater", "theatre", "hospital", "school", "cathedral", "mosque", "palace", "ruins", "tunnel", "subway", "platform", "runway", "court", "course", "rink",
    "arena", "track", "corridor", "hallway", "attic", "basement", "balcony", "terrace", "rooftop", "porch", "lobby",
    "downtown", "suburb", "neighborhood", "interior", "underwater", "coastline", "seaside", "waterfront", "lawn",
    "water", "indoors", "indoor", "outdoor", "outdoors",
}
_PERSONS = {
    "person", "people", "man", "woman", "child", "kid", "boy", "girl", "baby", "toddler", "teenager", "adult",
    "family", "couple", "crowd", "bride", "groom", "student", "teacher", "doctor", "nurse", "soldier", "police",
    "policeman", "policewoman", "officer", "firefighter", "chef", "worker", "farmer", "tourist", "player", "athlete",
    "musician", "singer", "dancer", "artist", "photographer", "friend", "friends", "grandparent", "grandmother",
    "grandfather", "mother", "father", "parent", "senior", "audience", "team", "group", "guest", "guests", "pedestrian",
    "cyclist", "runner", "swimmer", "surfer", "skier", "rider", "driver", "passenger", "clown", "model",
}
_ANIMALS = {
    "dog", "cat", "horse", "cow", "sheep", "goat", "pig", "chicken", "duck", "goose", "bird", "fish", "bear", "lion",
    "tiger", "elephant", "giraffe", "zebra", "monkey", "ape", "gorilla", "deer", "elk", "moose", "fox", "wolf",
    "rabbit", "squirrel", "mouse", "rat", "hamster", "owl", "eagle", "hawk", "parrot", "pigeon", "seagull", "swan",
    "penguin", "whale", "dolphin", "shark", "turtle", "tortoise", "frog", "snake", "lizard", "crocodile", "alligator",
    "butterfly", "bee", "spider", "ant", "insect", "beetle", "dragonfly", "snail", "crab", "lobster", "octopus",
    "jellyfish", "camel", "kangaroo", "koala", "panda", "donkey", "mule", "bull", "calf", "puppy", "kitten", "lamb",
    "pony", "bat", "hedgehog", "otter", "seal", "animal", "animals", "pet", "cattle", "wildlife", "hen", "rooster",
    "birds", "horses", "whales", "cows", "dogs", "cats",
}
_VEHICLES = {
    "car", "bus", "truck", "train", "tram", "bicycle", "bike", "motorcycle", "motorbike", "scooter", "boat", "ship",
    "yacht", "sailboat", "canoe", "kayak", "airplane", "aeroplane", "plane", "helicopter", "jet", "van", "taxi",
    "ambulance", "tractor", "vehicle", "vehicles", "cars", "boats", "locomotive", "subway", "ferry", "rocket",
    "spaceship", "balloon", "skateboard", "wagon", "cart", "carriage", "limousine", "jeep", "suv", "trailer", "caravan",
}
_PLANTS = {
    "tree", "flower", "flowers", "plant", "plants", "grass", "bush", "shrub", "cactus", "fern", "moss", "rose",
    "tulip", "sunflower", "daisy", "lily", "orchid", "palm", "leaf", "leaves", "mushroom", "vine", "ivy", "bamboo",
    "weed", "houseplant", "succulent", "lavender", "blossom", "seaweed", "algae", "forest",
}
_FOODS = {
    "food", "meal", "pizza", "sandwich", "burger", "hamburger", "cake", "bread", "rice", "pasta", "noodles", "soup",
    "salad", "apple", "banana", "orange", "lemon", "grape", "grapes", "strawberry", "cherry", "tomato", "carrot",
    "broccoli", "potato", "onion", "egg", "eggs", "cheese", "meat", "steak", "chicken", "fish", "sushi", "taco",
    "donut", "doughnut", "cookie", "cookies", "pie", "dessert", "ice cream", "chocolate", "candy", "coffee", "tea",
    "juice", "milk", "wine", "beer", "cocktail", "drink", "breakfast", "lunch", "dinner", "snack", "fruit",
    "vegetable", "vegetables", "hot dog", "fries", "pancake", "waffle", "croissant", "muffin", "cupcake", "honey",
    "sauce", "curry", "dumpling", "burrito", "kebab", "sausage", "bacon", "ham", "corn", "pepper", "cucumber",
    "lettuce", "mango", "pineapple", "watermelon", "melon", "peach", "pear", "plum", "kiwi", "avocado", "nuts",
}
_MATERIALS = {
    "wood", "metal", "steel", "iron", "brick", "concrete", "marble", "stone", "glass", "leather", "plastic", "paper",
    "cardboard", "fabric", "cotton", "wool", "silk", "denim", "gold", "silver", "copper", "bronze", "rust", "granite",
    "clay", "ceramic", "porcelain", "velvet", "lace", "straw", "wicker", "rubber", "texture", "pattern",
}
# Nouns without an article in a caption ("rice on a plate", "sand and water").
MASS_NOUNS = frozenset({
    "rice", "pasta", "bread", "soup", "cheese", "meat", "coffee", "tea", "juice", "milk", "wine", "beer", "water",
    "honey", "sauce", "curry", "bacon", "ham", "corn", "broccoli", "lettuce", "chocolate", "candy", "food", "fruit",
    "grass", "moss", "ivy", "bamboo", "seaweed", "algae", "sand", "snow", "rain", "ice", "fog", "mist", "smoke", "fire",
    "mud", "dirt", "gravel", "hay", "straw", "lava", "foliage", "sunshine", "sunlight", "lightning", "frost", "hail",
    "wildlife", "cattle", "luggage", "furniture", "clothing", "jewelry", "jewellery", "traffic", "graffiti",
    "scenery", "greenery", "laundry", "money", "cash", "firewood", "confetti", "steam", "dust", "noodles", "fries",
    "spaghetti", "sushi", "popcorn", "cereal", "yogurt", "butter", "salt", "sugar", "flour", "oil",
    *_MATERIALS,
})
_SPORTS = {
    "tennis", "golf", "soccer", "football", "basketball", "baseball", "volleyball", "cricket", "rugby", "hockey",
    "badminton", "chess", "polo", "billiards", "pool", "bowling", "table tennis", "ping pong", "handball", "darts",
    "poker", "cards", "frisbee", "softball", "lacrosse", "squash",
}
# Activities that are not -ing words ("people doing yoga").
_ACTIVITY_NOUNS = {"yoga", "pilates", "karate", "judo", "taekwondo", "tai chi", "meditation", "aerobics", "gymnastics", "parkour", "ballet"}
# Nouns that end in -ing without being activities.
_ING_NOUNS = {
    "building", "ceiling", "wedding", "pudding", "dumpling", "ring", "king", "wing", "string", "spring", "swing",
    "sibling", "evening", "morning", "icing", "railing", "clothing", "earring", "stocking", "sling", "bedding",
    "frosting", "filling", "stuffing", "topping", "seedling", "duckling", "gosling", "herring", "whiting", "viking",
    "lightning", "awning", "sapling", "darling", "thing", "something", "nothing", "everything", "living",
    "offering", "painting", "drawing", "carving", "engraving", "recording", "landing", "crossing", "opening",
    "housing", "lighting", "parking", "tubing", "piping", "fencing", "flooring", "siding", "roofing", "casing",
    "shopping", "boxing", "bowling", "wrestling", "sailing", "clearing", "fling",
}
# Of the -ing nouns above, these are usually what people do (an activity), not a thing.
_ING_ACTIVITIES = {"painting", "drawing", "carving", "shopping", "boxing", "bowling", "wrestling", "sailing", "fencing", "tubing", "parking"}
_ON = {
    "beach", "street", "road", "highway", "bridge", "farm", "island", "pier", "dock", "shore", "coast", "coastline",
    "sidewalk", "runway", "platform", "rooftop", "balcony", "terrace", "porch", "lawn", "trail", "slope", "track",
    "mountain", "hill", "cliff", "dune", "lake", "river", "field", "court", "boardwalk", "seaside", "waterfront",
    "course",
}
# Places said without an article, or with a noun of their own.
_SPECIAL_SCENES = {
    "underwater": ("an underwater scene", "underwater"), "outdoors": ("the outdoors", "outdoors"),
    "indoors": ("the indoors", "indoors"), "outdoor": ("an outdoor scene", "outdoors"), "indoor": ("an indoor scene", "indoors"),
}
_AT = {
    "airport", "station", "stadium", "market", "zoo", "restaurant", "cafe", "bar", "harbor", "harbour", "port",
    "marina", "school", "museum", "playground", "pool", "gym", "campsite", "arena", "rink", "mall", "supermarket",
    "store", "shop", "concert", "fair", "hospital", "church", "temple", "mosque", "cathedral", "library", "theater",
    "theatre", "studio", "party", "wedding", "festival",
}
# Scenes said with "the": one of a kind in a photo ("in the sky", "by the ocean").
_THE = {"sky", "ocean", "sea", "countryside", "desert", "jungle", "woods", "city", "wild", "outdoors", "mountains", "water"}

_LOCATIVE = {
    "in", "on", "at", "by", "along", "across", "through", "over", "above", "under", "near", "down", "against", "around",
    "among", "inside", "outside", "beneath", "below", "atop", "onto", "into", "underneath",
}
# Places that are indoors, by their last word ("living room", "home office", "art gallery"): a
# thing found only there is not put "in the snow", "on farmland" or "on a sunny day".
INDOOR_PLACES = frozenset({
    "room", "kitchen", "bathroom", "bedroom", "office", "classroom", "library", "hallway", "corridor", "garage", "attic",
    "basement", "cellar", "pantry", "closet", "nursery", "elevator", "lobby", "shop", "store", "supermarket", "mall",
    "bakery", "bookstore", "florist", "restaurant", "cafe", "diner", "bar", "pub", "nightclub", "hospital", "museum",
    "gallery", "theater", "theatre", "cinema", "gym", "church", "cathedral", "synagogue", "factory", "warehouse", "barn",
    "shed", "greenhouse", "studio", "laboratory", "salon", "subway", "interior", "indoors", "indoor", "meeting",
})
# Words that name where a photo is, besides scene words: surfaces things stand on, the ground,
# times and weather ("on a table", "in the grass", "at night", "on a sunny morning").
PLACE_WORDS = frozenset(
    _SCENES | set(_WEATHER) | {
        "table", "desk", "counter", "countertop", "shelf", "windowsill", "bed", "couch", "sofa", "bench", "wall", "fence",
        "floor", "ground", "grass", "rocks", "tracks", "corner", "curb", "sidelines", "shallows", "pasture", "paddock",
        "hillside", "intersection", "day", "sky", "mat", "ice", "stage", "ramp", "branch", "watering hole", "gate", "traffic",
        "path", "rapids", "home plate",
    }
)

_WORD = re.compile(r"[a-z][a-z'&\-]*")


def _singular(word: str) -> str:
    """A crude singular, only for looking words up in the lists above."""
    if word.split(" ")[-1] in UNCHANGED_PLURALS:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _last_words(name: str) -> list[str]:
    """The label's last word and last two words (for two-word entries such as "ice cream")."""
    words = _WORD.findall(name.lower())
    candidates = []
    if len(words) >= 2:
        candidates += [" ".join(words[-2:]), _singular(" ".join(words[-2:]))]
    if words:
        candidates += [words[-1], _singular(words[-1])]
    return candidates


def guess_kind(name: str) -> str:
    """The kind of a label from its name alone (the rules of this module's docstring)."""
    lower = name.lower().strip()
    if any(re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", lower) for word in _STYLE_WORDS):
        return "style"
    words = _WORD.findall(lower)
    if len(words) > 1 and words[-1] in _STYLE_HEADS:
        return "style"
    for table, kind in (
        (_WEATHER, "weather"), (_EVENTS, "event"), (_SCENES, "scene"), (_PERSONS, "person"), (_ANIMALS, "animal"),
        (_VEHICLES, "vehicle"), (_PLANTS, "plant"), (_FOODS, "food"), (_MATERIALS, "material"),
    ):
        if any(word in table for word in _last_words(lower)):
            return kind
    if words and words[-1].endswith("ing") and (words[-1] not in _ING_NOUNS or words[-1] in _ING_ACTIVITIES):
        return "activity"
    if lower in _SPORTS or lower in _ACTIVITY_NOUNS:
        return "activity"
    return "object"


# Kinds a keyword-tree node names reliably (`animals`, `birds`, `food and drink`, `vehicles`); a
# node's style or activity guess is not trusted (`kitchen and dining` is no activity).
_TREE_KINDS = ("animal", "plant", "food", "vehicle", "person", "scene", "weather", "event", "material")


def guess_kind_in_tree(name: str, parents: Sequence[str] = ()) -> str:
    """The kind of a label from its name, else from its parents in the vocabulary's keyword
    tree, nearest first: `kestrel` under `animals|birds` is an animal, not an object."""
    kind = guess_kind(name)
    if kind != "object":
        return kind
    for parent in reversed(parents):
        guessed = guess_kind(parent)
        if guessed in _TREE_KINDS:
            return guessed
    return kind


def is_indoor_place(name: str) -> bool:
    """True for a place that is indoors ("kitchen", "hotel room", "art gallery"; INDOOR_PLACES)."""
    words = _WORD.findall(name.lower())
    return bool(words) and (words[-1] in INDOOR_PLACES or _singular(words[-1]) in INDOOR_PLACES)


def names_a_place(phrase: str, places: frozenset[str] | set[str] = frozenset()) -> bool:
    """True when a phrase puts something in a place or time ("grazing in a field", "on a desk",
    "in the snow", "walking down a street"): a preposition of place followed, before the next
    preposition, by one of PLACE_WORDS or `places` (more place names, lower-case). "In a red
    jacket", "on a leash", "in a bowl", "talking on a phone" name none."""
    words = _WORD.findall(phrase.lower())
    for i, word in enumerate(words):
        if word not in _LOCATIVE:
            continue
        following: list[str] = []
        for other in words[i + 1 :]:
            if other in _LOCATIVE:
                break
            following.append(other)
        pairs = [" ".join(following[j : j + 2]) for j in range(len(following) - 1)]
        if any(w in PLACE_WORDS or _singular(w) in PLACE_WORDS or w in places for w in following + pairs):
            return True
    return False


def is_mass_noun(name: str) -> bool:
    """True for nouns a caption uses without `a`/`an` ("rice", "sand", "marble")."""
    return any(word in MASS_NOUNS for word in _last_words(name)[-2:]) or name.lower() in MASS_NOUNS


def guessed_phrases(label: Label, kind: str) -> tuple[str, str | None, str | None]:
    """(np, pp, vp) for a label without written knowledge: see this module's docstring."""
    name = label.name
    lower = name.lower()
    words = _WORD.findall(lower)
    last = words[-1] if words else lower
    if kind == "style":
        if last == "photography" or lower in ("minimalism", "abstract art"):  # "street photography of a market"
            return name, None, None
        noun = last in _STYLE_HEADS or lower in _STYLE_NOUNS or last in _STYLE_NOUNS
        return (article(name) if noun else article(f"{name} photo")), None, None
    if kind == "weather":
        for key in (lower, _singular(lower)):  # the table's phrase names the label itself
            if key in _WEATHER:
                np, pp = _WEATHER[key]
                return np, pp, None
        np = name if is_mass_noun(name) else article(name)
        return np, (f"in the {name}" if is_mass_noun(name) else f"during {np}"), None
    if kind == "activity":
        if last.endswith("ing"):
            return f"people {name}", None, name
        verb = "playing" if lower in _SPORTS or last in _SPORTS else "doing"
        return f"people {verb} {name}", None, f"{verb} {name}"
    if kind == "event":
        np = article(name)
        return np, f"at {np}", None
    if kind == "scene":
        if lower in _SPECIAL_SCENES:
            return (*_SPECIAL_SCENES[lower], None)
        np = f"the {name}" if lower in _THE or last in _THE else (name if is_mass_noun(name) else article(name))
        preposition = "on" if last in _ON or lower in _ON else "at" if last in _AT or lower in _AT else "in"
        return np, f"{preposition} {np}", None
    if kind == "material" or is_mass_noun(name):
        return name, None, None
    if last in UNCHANGED_PLURALS and lower.endswith("s"):  # jeans, glasses, scissors
        return f"a pair of {name}", None, None
    return article(name), None, None
