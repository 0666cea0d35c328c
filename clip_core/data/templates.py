"""Prompt templates and class names: the paper's registry, plus loading from files.

Templates use ``{}`` for the class name (``{c}`` is accepted in files and converted).

Public API
----------
- ``IMAGENET_TEMPLATES``: the 80 ImageNet prompt templates of OpenAI's CLIP notebook
  "Prompt_Engineering_for_ImageNet" (same strings, same order).
- ``IMAGENET_7_TEMPLATES``: the 7-template subset selected in that notebook.
- ``TEMPLATE_SETS``: registry name -> templates. Names: ``imagenet`` (80), ``imagenet-7``
  (aliases ``imagenet7``, ``imagenet_7``), ``simple`` ("a photo of a {}."), the benchmarks of
  CLIP's ``data/prompts.md`` (``cifar10``, ``cifar100``, ``mnist``, ``stl10``, ``clevr_counts``,
  ``caltech101``, ``country211``, ``dtd``, ``eurosat``, ``fgvc_aircraft``, ``fer2013``,
  ``flowers102``, ``food101``, ``gtsrb``, ``hateful_memes``, ``kitti``, ``kinetics700``,
  ``oxford_pets``, ``voc2007``, ``pcam``, ``resisc45``, ``sst2``, ``sun397``, ``stanford_cars``,
  ``ucf101``, ``birdsnap``) and every synthetic task as ``synthetic:<task>``.
- ``CLASSNAME_SETS``: registry name -> class names, for the small benchmarks (``cifar10``,
  ``cifar100``, ``mnist``, ``stl10``, ``clevr_counts``, ``dtd``, ``eurosat``, ``voc2007``,
  ``pcam``, ``sst2``, ``fer2013``) and the synthetic tasks.
- ``get_templates(name) -> list[str]`` / ``get_classnames(name) -> list[str]``: look up a
  registry entry (ValueError naming the known entries).
- ``list_template_sets() -> list[str]``.
- ``load_templates(path) -> list[str]``: ``.txt`` one per line (blank lines and ``#`` comments
  ignored) or ``.json`` (a list, or an object with a ``templates`` key).
- ``load_classnames(path) -> list[str] | dict[str, str]``: ``.txt`` one per line, or ``.json``
  (a list; an object with a ``classes``/``classnames`` key; or an object mapping label -> name).
- ``resolve_templates(spec) -> list[str]``: ``spec`` is a list of templates, a registry name or
  a file path.
- ``validate_template(template, where) -> str``: exactly one ``{}`` placeholder, else ValueError.
- ``fill(template, classname) -> str``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

IMAGENET_TEMPLATES: tuple[str, ...] = (
    'a bad photo of a {}.',
    'a photo of many {}.',
    'a sculpture of a {}.',
    'a photo of the hard to see {}.',
    'a low resolution photo of the {}.',
    'a rendering of a {}.',
    'graffiti of a {}.',
    'a bad photo of the {}.',
    'a cropped photo of the {}.',
    'a tattoo of a {}.',
    'the embroidered {}.',
    'a photo of a hard to see {}.',
    'a bright photo of a {}.',
    'a photo of a clean {}.',
    'a photo of a dirty {}.',
    'a dark photo of the {}.',
    'a drawing of a {}.',
    'a photo of my {}.',
    'the plastic {}.',
    'a photo of the cool {}.',
    'a close-up photo of a {}.',
    'a black and white photo of the {}.',
    'a painting of the {}.',
    'a painting of a {}.',
    'a pixelated photo of the {}.',
    'a sculpture of the {}.',
    'a bright photo of the {}.',
    'a cropped photo of a {}.',
    'a plastic {}.',
    'a photo of the dirty {}.',
    'a jpeg corrupted photo of a {}.',
    'a blurry photo of the {}.',
    'a photo of the {}.',
    'a good photo of the {}.',
    'a rendering of the {}.',
    'a {} in a video game.',
    'a photo of one {}.',
    'a doodle of a {}.',
    'a close-up photo of the {}.',
    'a photo of a {}.',
    'the origami {}.',
    'the {} in a video game.',
    'a sketch of a {}.',
    'a doodle of the {}.',
    'a origami {}.',
    'a low resolution photo of a {}.',
    'the toy {}.',
    'a rendition of the {}.',
    'a photo of the clean {}.',
    'a photo of a large {}.',
    'a rendition of a {}.',
    'a photo of a nice {}.',
    'a photo of a weird {}.',
    'a blurry photo of a {}.',
    'a cartoon {}.',
    'art of a {}.',
    'a sketch of the {}.',
    'a embroidered {}.',
    'a pixelated photo of a {}.',
    'itap of the {}.',
    'a jpeg corrupted photo of the {}.',
    'a good photo of a {}.',
    'a plushie {}.',
    'a photo of the nice {}.',
    'a photo of the small {}.',
    'a photo of the weird {}.',
    'the cartoon {}.',
    'art of the {}.',
    'a drawing of the {}.',
    'a photo of the large {}.',
    'a black and white photo of a {}.',
    'the plushie {}.',
    'a dark photo of a {}.',
    'itap of a {}.',
    'graffiti of the {}.',
    'a toy {}.',
    'itap of my {}.',
    'a photo of a cool {}.',
    'a photo of a small {}.',
    'a tattoo of the {}.',
)

IMAGENET_7_TEMPLATES: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

_CIFAR_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low contrast photo of a {}.",
    "a high contrast photo of a {}.",
    "a bad photo of a {}.",
    "a good photo of a {}.",
    "a photo of a small {}.",
    "a photo of a big {}.",
    "a photo of the {}.",
    "a blurry photo of the {}.",
    "a black and white photo of the {}.",
    "a low contrast photo of the {}.",
    "a high contrast photo of the {}.",
    "a bad photo of the {}.",
    "a good photo of the {}.",
    "a photo of the small {}.",
    "a photo of the big {}.",
)

_CALTECH_TEMPLATES: tuple[str, ...] = tuple(
    f"{a}{{}}{b}"
    for a, b in (
        ("a photo of a ", "."), ("a painting of a ", "."), ("a plastic ", "."),
        ("a sculpture of a ", "."), ("a sketch of a ", "."), ("a tattoo of a ", "."),
        ("a toy ", "."), ("a rendition of a ", "."), ("a embroidered ", "."),
        ("a cartoon ", "."), ("a ", " in a video game."), ("a plushie ", "."),
        ("a origami ", "."), ("art of a ", "."), ("graffiti of a ", "."),
        ("a drawing of a ", "."), ("a doodle of a ", "."), ("a photo of the ", "."),
        ("a painting of the ", "."), ("the plastic ", "."), ("a sculpture of the ", "."),
        ("a sketch of the ", "."), ("a tattoo of the ", "."), ("the toy ", "."),
        ("a rendition of the ", "."), ("the embroidered ", "."), ("the cartoon ", "."),
        ("the ", " in a video game."), ("the plushie ", "."), ("the origami ", "."),
        ("art of the ", "."), ("graffiti of the ", "."), ("a drawing of the ", "."),
        ("a doodle of the ", "."),
    )
)


_KINETICS_TEMPLATES: tuple[str, ...] = tuple(
    f"{medium} {who}{{}}."
    for medium in ("a photo of", "a video of", "a example of", "a demonstration of")
    for who in ("", "a person ", "a person using ", "a person doing ", "a person during ",
                "a person performing ", "a person practicing ")
)

_UCF_TEMPLATES: tuple[str, ...] = tuple(
    f"{medium} {article} person {prep}{{}}."
    for prep in ("", "using ", "doing ", "during ", "performing ", "practicing ")
    for article in ("a", "the")
    for medium in ("a photo of", "a video of", "a example of", "a demonstration of")
)

_RESISC_TEMPLATES: tuple[str, ...] = tuple(
    f"{kind} {art}{{}}."
    for art in ("", "a ", "the ")
    for kind in ("satellite imagery of", "aerial imagery of", "satellite photo of",
                 "aerial photo of", "satellite view of", "aerial view of")
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "imagenet": IMAGENET_TEMPLATES,
    "imagenet-7": IMAGENET_7_TEMPLATES,
    "simple": ("a photo of a {}.",),
    "cifar10": _CIFAR_TEMPLATES,
    "cifar100": _CIFAR_TEMPLATES,
    "mnist": ('a photo of the number: "{}".',),
    "stl10": ("a photo of a {}.", "a photo of the {}."),
    "clevr_counts": ("a photo of {} objects.",),
    "caltech101": _CALTECH_TEMPLATES,
    "country211": (
        "a photo i took in {}.",
        "a photo i took while visiting {}.",
        "a photo from my home country of {}.",
        "a photo from my visit to {}.",
        "a photo showing the country of {}.",
    ),
    "dtd": tuple(f"a photo of {art} {{}} {what}." for art in ("a", "the")
                 for what in ("texture", "pattern", "thing", "object")),
    "eurosat": (
        "a centered satellite photo of {}.",
        "a centered satellite photo of a {}.",
        "a centered satellite photo of the {}.",
    ),
    "fgvc_aircraft": ("a photo of a {}, a type of aircraft.", "a photo of the {}, a type of aircraft."),
    "fer2013": (
        "a photo of a {} looking face.",
        "a photo of a face showing the emotion: {}.",
        "a photo of a face looking {}.",
        "a face that looks {}.",
        "they look {}.",
        "look at how {} they are.",
    ),
    "flowers102": ("a photo of a {}, a type of flower.",),
    "food101": ("a photo of {}, a type of food.",),
    "gtsrb": (
        'a zoomed in photo of a "{}" traffic sign.',
        'a centered photo of a "{}" traffic sign.',
        'a close up photo of a "{}" traffic sign.',
    ),
    "hateful_memes": ("a {}.",),
    "kitti": ("{}",),
    "kinetics700": _KINETICS_TEMPLATES,
    "oxford_pets": ("a photo of a {}, a type of pet.",),
    "voc2007": ("a photo of a {}.",),
    "pcam": ("this is a photo of {}",),
    "resisc45": _RESISC_TEMPLATES,
    "sst2": ("a {} review of a movie.",),
    "sun397": ("a photo of a {}.", "a photo of the {}."),
    "stanford_cars": (
        "a photo of a {}.",
        "a photo of the {}.",
        "a photo of my {}.",
        "i love my {}!",
        "a photo of my dirty {}.",
        "a photo of my clean {}.",
        "a photo of my new {}.",
        "a photo of my old {}.",
    ),
    "ucf101": _UCF_TEMPLATES,
    "birdsnap": ("a photo of a {}, a type of bird.",),
}

_ALIASES = {"imagenet7": "imagenet-7", "imagenet_7": "imagenet-7", "imagenet80": "imagenet",
            "clevr": "clevr_counts", "pets": "oxford_pets", "cars": "stanford_cars",
            "patch_camelyon": "pcam", "pascal_voc2007": "voc2007"}

CLASSNAME_SETS: dict[str, tuple[str, ...]] = {
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "cifar100": (
        "apple", "aquarium fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
        "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
        "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
        "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
        "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn mower", "leopard", "lion",
        "lizard", "lobster", "man", "maple tree", "motorcycle", "mountain", "mouse", "mushroom",
        "oak tree", "orange", "orchid", "otter", "palm tree", "pear", "pickup truck", "pine tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
        "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
        "spider", "squirrel", "streetcar", "sunflower", "sweet pepper", "table", "tank",
        "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
        "wardrobe", "whale", "willow tree", "wolf", "woman", "worm",
    ),
    "mnist": tuple(str(d) for d in range(10)),
    "stl10": ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"),
    "clevr_counts": ("10", "3", "4", "5", "6", "7", "8", "9"),
    "dtd": (
        "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
        "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy",
        "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled",
        "matted", "meshed", "paisley", "perforated", "pitted", "pleated", "polka-dotted", "porous",
        "potholed", "scaly", "smeared", "spiralled", "sprinkled", "stained", "stratified", "striped",
        "studded", "swirly", "veined", "waffled", "woven", "wrinkled", "zigzagged",
    ),
    "eurosat": (
        "forest", "permanent crop land", "residential buildings or homes or apartments", "river",
        "pasture land", "lake or sea", "brushland or shrubland", "annual crop land",
        "industrial buildings or commercial buildings", "highway or road",
    ),
    "voc2007": (
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dog",
        "horse", "motorbike", "person", "sheep", "sofa", "diningtable", "pottedplant", "train",
        "tvmonitor",
    ),
    "pcam": ("lymph node", "lymph node containing metastatic tumor tissue"),
    "sst2": ("negative", "positive"),
    "fer2013": ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral"),
}


def _canonical(name: str) -> str:
    """Registry key for a user-supplied name."""
    key = name.strip().lower()
    return _ALIASES.get(key, key)


def validate_template(template: str, where: str = "template") -> str:
    """Check that a template has exactly one '{}' placeholder ('{c}' is converted)."""
    t = template.replace("{c}", "{}")
    if t.count("{}") != 1 or t.replace("{}", "").count("{") or t.replace("{}", "").count("}"):
        raise ValueError(f"{where}: template {template!r} must contain exactly one '{{}}' placeholder")
    return t


def fill(template: str, classname: str) -> str:
    """The prompt for ``classname`` (plain replacement; braces in class names are safe)."""
    return template.replace("{}", classname, 1)


def list_template_sets() -> list[str]:
    """Names of all registered template sets (synthetic tasks included)."""
    from .synthetic_tasks import TASKS

    return sorted(TEMPLATE_SETS) + [f"synthetic:{t}" for t in sorted(TASKS)]


def get_templates(name: str) -> list[str]:
    """Templates of a registry entry."""
    if name.startswith("synthetic:"):
        from .synthetic_tasks import get_task_spec

        return list(get_task_spec(name).templates)
    key = _canonical(name)
    if key not in TEMPLATE_SETS:
        raise ValueError(f"unknown template set {name!r}; known: {list_template_sets()}")
    return list(TEMPLATE_SETS[key])


def get_classnames(name: str) -> list[str]:
    """Class names of a registry entry."""
    if name.startswith("synthetic:"):
        from .synthetic_tasks import get_task_spec

        return list(get_task_spec(name).classnames)
    key = _canonical(name)
    if key not in CLASSNAME_SETS:
        raise ValueError(f"no built-in class names for {name!r}; known: {sorted(CLASSNAME_SETS)}")
    return list(CLASSNAME_SETS[key])


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank, non-comment lines of a text file."""
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            out.append((i, text))
    return out


def load_templates(path: str | os.PathLike[str]) -> list[str]:
    """Templates from a .txt (one per line) or .json file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"templates file not found: {p}")
    if p.suffix.lower() == ".json":
        obj = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(obj, dict):
            if "templates" not in obj:
                raise ValueError(f"{p}: JSON object has no 'templates' key")
            obj = obj["templates"]
        if not isinstance(obj, list) or not all(isinstance(t, str) for t in obj):
            raise ValueError(f"{p}: 'templates' must be a list of strings")
        templates = [validate_template(t, f"{p} item {i}") for i, t in enumerate(obj)]
    else:
        templates = [validate_template(t, f"{p} line {i}") for i, t in _read_lines(p)]
    if not templates:
        raise ValueError(f"{p}: no templates found")
    return templates


def load_classnames(path: str | os.PathLike[str]) -> list[str] | dict[str, str]:
    """Class names from a .txt (one per line) or .json file (list, or label -> name object)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"class names file not found: {p}")
    if p.suffix.lower() == ".json":
        obj = json.loads(p.read_text(encoding="utf-8"))
        if isinstance(obj, dict):
            for key in ("classes", "classnames"):
                if key in obj:
                    obj = obj[key]
                    break
        if isinstance(obj, dict):
            names: list[str] | dict[str, str] = {str(k): str(v) for k, v in obj.items()}
        elif isinstance(obj, list):
            names = [str(x[0]) if isinstance(x, list) else str(x) for x in obj]
        else:
            raise ValueError(f"{p}: class names must be a JSON list or object")
    else:
        names = [text for _, text in _read_lines(p)]
    if not names:
        raise ValueError(f"{p}: no class names found")
    if isinstance(names, list) and len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{p}: duplicate class names {dup}")
    return names


def resolve_templates(spec: str | os.PathLike[str] | list[str] | tuple[str, ...]) -> list[str]:
    """Templates from a list, a registry name, or a file path."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError("empty list of templates")
        return [validate_template(t, f"templates[{i}]") for i, t in enumerate(spec)]
    text = os.fspath(spec)
    if os.path.exists(text) or text.endswith((".txt", ".json")):
        return load_templates(text)
    return get_templates(text)
