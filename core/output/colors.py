"""Colours an analyst expects for land-cover classes, picked from the class names.

Water is blue, trees and forest dark green, shrubs a mid green, grass and low vegetation light
green, buildings and settlements red, roads and pavement grey, soil and bare ground brown, crops
yellow, snow white-blue; in English, German, Portuguese, Spanish (and French, Italian where the
words are obvious). A negated name ("Non-vegetation", "sem vegetação", "unvegetated") is bare
ground, never vegetation or water. Classes whose names say nothing get a qualitative palette
without blues and greens, so no unknown class reads as water or vegetation. Two classes of one
kind (e.g. "sea" and "inland water") get two shades of its colour.
"""

from __future__ import annotations

import re
import unicodedata

# kind → colour
COLORS = {
    "water": "#1f78b4",
    "wetland": "#5ab4ac",
    "forest": "#1b7837",
    "shrub": "#7a9a3a",
    "vegetation": "#4daf4a",
    "grass": "#a6d96a",
    "crop": "#e6d155",
    "built": "#d7301f",
    "road": "#969696",
    "soil": "#8c5a2b",
    "bare": "#d2c19b",   # negated vegetation: "Non-vegetation", "sem vegetação"
    "snow": "#e0f3f8",
    "shadow": "#404040",
    "cloud": "#f0f0f0",
}

# Words (accents removed, lower case). A word matches a token equal to it or, for words of five
# letters or more and COMPOUND_PARTS, a token that contains it ("Wasserfläche", "Laubwald").
WORDS = {
    "water": "water waters lake lakes river rivers sea ocean pond ponds reservoir canal stream "
             "wasser see fluss meer teich gewasser agua rio lago lagoa mar oceano represa acude "
             "embalse laguna eau lac riviere fleuve acqua fiume",
    "wetland": "wetland wetlands marsh swamp bog mangrove mangrove feuchtgebiet sumpf moor "
               "brejo pantano varzea manguezal humedal cienaga marais",
    "forest": "tree trees forest forests woodland wood woods canopy baum baume wald walder forst "
              "gehölz gehoelz arvore arvores floresta florestas mata arbol arboles bosque bosques "
              "selva foret albero alberi bosco",
    "shrub": "shrub shrubs shrubland bush bushes scrub heath strauch straucher gebusch busch "
             "heide arbusto arbustos matorral cerrado caatinga garrigue",
    "grass": "grass pastizal grassland grasslands meadow meadows lawn pasture pastures herbaceous gras "
             "grunland wiese wiesen weide rasen pasto pastagem campo gramado relva pradera prado "
             "cesped herbazal prairie pelouse prato",
    "crop": "crop crops cropland field fields agriculture agricultural farmland arable orchard "
            "vineyard acker feld felder landwirtschaft cultivo cultivos lavoura agricultura "
            "plantacao plantacion cultura culture",
    "built": "building buildings roof roofs house houses built builtup urban settlement "
             "settlements village villages town city residential industrial gebaude dach dacher "
             "haus hauser siedlung dorf stadt bebauung edificio edificios edificacao construcao "
             "telhado telhados casa casas urbano urbana vila aldeia povoado cidade techo techos "
             "pueblo ciudad batiment toit ville edificato",
    "road": "road roads street streets pavement paved asphalt impervious sealed parking highway "
            "concrete strasse strassen weg wege versiegelt estrada estradas rua ruas asfalto "
            "pavimento calcada calle calles carretera camino route rue strada",
    "soil": "soil soils bare sand sandy dirt earth ground rock rocks gravel dryout dry desert "
            "beach boden erde fels kies strand solo terra exposto areia rocha praia seco suelo "
            "tierra desnudo arena roca playa sol sable suolo",
    "snow": "snow ice glacier schnee eis gletscher neve gelo nieve hielo neige glace ghiaccio",
    "shadow": "shadow shadows schatten sombra ombre ombra",
    "cloud": "cloud clouds wolke wolken nuvem nube nuage nuvola",
}
VEGETATION_WORDS = {"vegetation", "vegetated", "vegetacao", "vegetacion", "vegetal", "green",
                    "vegetazione", "grun", "verde"}
DENSE = {"dense", "high", "tall", "densa", "denso", "alta", "alto", "dicht", "dichte", "hohe", "hoch"}
LOW = {"low", "sparse", "short", "baixa", "baja", "bajo", "rala", "niedrig", "niedrige", "rasteira"}
NEGATIONS = {"non", "no", "not", "without", "sem", "sin", "nicht", "ohne", "kein", "keine", "sans", "senza"}

# For classes whose names say nothing: no blue, no green, no brown, no grey.
QUALITATIVE = ["#e377c2", "#ff7f0e", "#9467bd", "#bcbd22", "#fdbf6f", "#cab2d6", "#6a3d9a",
               "#fb9a99", "#b15928", "#ffff99", "#e7298a", "#66c2a5"]

# Short German words that end compounds ("Laubwald", "Obstbaum", "Flachdach").
COMPOUND_PARTS = {"wald", "baum", "dach", "haus", "feld", "gras"}
_LOOKUP = {word: kind for kind, words in WORDS.items() for word in words.split()}


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("ß", "ss")


def _tokens(name: str) -> list:
    return [t for t in re.split(r"[^a-z0-9]+", _plain(name)) if t]


def _word_kind(token: str):
    if token in _LOOKUP:
        return _LOOKUP[token]
    for word, kind in _LOOKUP.items():
        if (len(word) >= 5 or word in COMPOUND_PARTS) and word in token:
            return kind
    return None


def _split_negation(tokens: list, i: int):
    """(word without a 'non'/'un' prefix, whether the word is negated)."""
    token = tokens[i]
    negated = i > 0 and tokens[i - 1] in NEGATIONS
    for prefix in ("non", "un"):
        rest = token[len(prefix):]
        if token.startswith(prefix) and (rest in VEGETATION_WORDS or rest in _LOOKUP):
            return rest, True
    return token, negated


def class_kind(name: str):
    """The land-cover kind a class name says (a key of COLORS), or None."""
    tokens = _tokens(name)
    for i in range(len(tokens)):
        word, negated = _split_negation(tokens, i)
        if word in VEGETATION_WORDS:
            if negated:
                return "bare"
            near = set(tokens[max(0, i - 2):i + 2])
            return "forest" if near & DENSE else "grass" if near & LOW else "vegetation"
        kind = _word_kind(word)
        if kind is not None:
            if negated:
                return "bare" if kind in ("forest", "shrub", "grass", "vegetation", "crop") else None
            return kind
    return None


def _shade(color: str, step: int) -> str:
    """The ``step``-th variant of a colour: alternately lighter and darker."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    amount = 0.35 * ((step + 1) // 2) / max(1, (step + 1) // 2 + 1)
    target = 255 if step % 2 else 0
    mixed = [round(c + (target - c) * amount) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def class_colors(names: list) -> list:
    """One '#rrggbb' colour per class name, in the same order (see the module's docstring)."""
    colors, used = [], {}
    spare = iter(QUALITATIVE * (1 + len(names) // len(QUALITATIVE)))
    for name in names:
        kind = class_kind(name)
        if kind is None:
            colors.append(next(spare))
            continue
        count = used.get(kind, 0)
        used[kind] = count + 1
        colors.append(COLORS[kind] if count == 0 else _shade(COLORS[kind], count))
    return colors
