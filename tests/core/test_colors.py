"""Class colours from class names (core/output/colors.py) on the sample data's class names."""

import pytest

from multimodal_siamese.core.output.colors import COLORS, QUALITATIVE, class_colors, class_kind
from multimodal_siamese.core.io.labels import build_class_table


@pytest.mark.parametrize("name, kind", [
    # Potsdam (EnMAP)
    ("roof", "built"), ("pavement", "road"), ("low vegetation", "grass"), ("tree", "forest"),
    ("soil", "soil"), ("water", "water"), ("impervious", "road"), ("vegetation", "vegetation"),
    # Tahoe
    ("Tree", "forest"), ("Shrub", "shrub"), ("Non-vegetation", "bare"), ("Non-vegetated", "bare"),
    # Pará
    ("forest", "forest"), ("village", "built"), ("dryout", "soil"),
    # the demo (resources/sample)
    ("sea", "water"), ("inland water", "water"), ("dense vegetation", "forest"), ("built-up", "built"),
    ("grass / bare soil", "grass"),
    # German, Portuguese, Spanish
    ("Laubwald", "forest"), ("Wasserfläche", "water"), ("Gebäude", "built"), ("Straße", "road"),
    ("Grünland", "grass"), ("offener Boden", "soil"), ("Água", "water"), ("Floresta", "forest"),
    ("Solo exposto", "soil"), ("Vegetação rasteira", "grass"), ("sem vegetação", "bare"),
    ("Área urbana", "built"), ("Bosque", "forest"), ("Suelo desnudo", "soil"), ("Carretera", "road"),
    ("sin vegetación", "bare"), ("Cuerpo de agua", "water"), ("Pastizal", "grass"), ("street", "road"), ("Nadelwald", "forest"), ("Pasto", "grass"),
    ("unvegetated", "bare"),
    # says nothing
    ("class 7", None), ("A", None), ("other", None),
])
def test_kind_from_the_name(name, kind):
    assert class_kind(name) == kind


def test_tahoe_non_vegetation_is_neither_water_nor_green():
    colors = dict(zip(["Non-vegetation", "Shrub", "Tree"], class_colors(["Non-vegetation", "Shrub", "Tree"])))
    assert colors["Tree"] == COLORS["forest"] and colors["Shrub"] == COLORS["shrub"]
    assert colors["Non-vegetation"] == COLORS["bare"]


def test_potsdam_colours_and_unknown_names_get_distinct_non_blue_non_green_colours():
    names = ["roof", "pavement", "low vegetation", "tree", "soil", "water"]
    assert class_colors(names) == [COLORS[k] for k in ("built", "road", "grass", "forest", "soil", "water")]
    unknown = class_colors(["alpha", "beta", "gamma"])
    assert unknown == QUALITATIVE[:3]


def test_two_classes_of_one_kind_get_two_shades():
    sea, inland = class_colors(["sea", "inland water"])
    assert sea == COLORS["water"] and inland != sea and inland.startswith("#") and len(inland) == 7


def test_class_table_uses_name_colours_unless_the_style_gives_colours():
    table = build_class_table(["Tree", "Shrub", "Non-vegetation", "Tree"])
    assert {c.name: c.color for c in table} == {
        "Non-vegetation": COLORS["bare"], "Shrub": COLORS["shrub"], "Tree": COLORS["forest"]}
    styled = build_class_table([1, 2], names={"1": "water", "2": "forest"}, colors={"1": "#123456"})
    assert [c.color for c in styled] == ["#123456", COLORS["forest"]]
