"""Slider concepts: what a slider is trained to change and the prompts it is evaluated on (DMP section 3.3,
Table 2, A.9.2; Concept Sliders' prompt settings).

A concept (``"age"``) has, for each preserved attribute p of P (Concept Sliders' ``--attributes 'male,
female'``, DMP's "concepts that the attribute manipulation should preserve"), four prompts:

* ``target``: the prompt the slider is attached to (``c_t``, "a photo of a man"); a prompt slider is
  the learned token appended to it, a concept slider a LoRA used with it;
* ``positive`` / ``negative``: ``c+`` / ``c-`` of the guided target
  ``eps(x_t, neutral) + eta * (eps(x_t, positive) - eps(x_t, negative))``;
* ``neutral``: the base of that target.

and five evaluation prompts (A.9.2: 5 prompts per concept), each a pair ``(plain, edited)``: the plain
prompt a slider is attached to (and the unedited image's prompt), and the same prompt with the attribute
written in words (what ``text_prompt`` renders). ``score_text`` is the text the CLIP score of an edited
image is measured against (Table 2: "the attribute names").

Mini world (``mini_concepts``): the 13 graded attributes of the mini faces (the paper: 20 concepts on
SD-XL), P = {man, woman}, prompts in the mini SD's caption language (``faces_spec.caption``). The mini
SD's captions name only the attributes a face shows, never their absence, so ``negative`` = ``neutral``
(the caption without the attribute): the mini SD was never shown "young" or "without glasses". The 5
evaluation subjects are the first 5 of ``EVAL_SUBJECTS`` that do not involve the concept (or a concept
it excludes); ``score_text`` is the attribute's caption on "person" ("a photo of an old person").

Paper world (``paper_concepts``): the paper does not publish its 20 concepts or 100 prompts (A.9.2 prints
the 5 prompts of "age" and says the rest "will be made public"); ``PAPER_CONCEPTS`` holds 20 person
attributes in Concept Sliders' form (positive / opposite words), ``PAPER_PROMPTS`` the 5 printed prompts
for every concept. Both are this suite's choice, named in every record.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from dmpbench.errors import DmpbenchError


@dataclass(frozen=True)
class SliderConcept:
    name: str  # the concept's name: DMP's condition text and the request's ``concept``
    target: tuple[str, ...]  # one per preserved attribute, as the other three
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    neutral: tuple[str, ...]
    eval_prompts: tuple[tuple[str, str], ...]  # (plain, edited) pairs
    score_text: str
    init_word: str  # the word a prompt slider's token starts from (Prompt Sliders' ``initializer_token``)

    @property
    def condition(self) -> str:
        """The text a DMP is conditioned on: the concept name in words (``hair_length`` -> "hair length")."""
        return self.name.replace("_", " ")


#: subjects of the mini evaluation prompts, in order of preference: (noun, attributes already shown)
EVAL_SUBJECTS: tuple[tuple[str, dict[str, float]], ...] = (
    ("man", {}), ("woman", {}), ("person", {}), ("woman", {"smiling": 1.0}), ("man", {"glasses": 1.0}),
    ("man", {"chubby": 1.0}), ("woman", {"hat": 1.0}),
)
MINI_PRESERVED = ("man", "woman")
#: the word a mini prompt slider's token starts from (one MiniLM word each)
MINI_INIT_WORDS = {"age": "old", "smiling": "smiling", "surprised": "surprised", "hair_length": "long",
                   "bald": "bald", "chubby": "chubby", "glasses": "glasses", "beard": "beard", "moustache": "moustache",
                   "hat": "hat", "lipstick": "lipstick", "pale": "pale", "tan": "tanned"}


def _involves(concept: str, attrs: dict[str, float]) -> bool:
    from dmpbench.data.mini.faces_spec import EXCLUSIVE

    if concept in attrs:
        return True
    return any((a == concept and b in attrs) or (b == concept and a in attrs) for a, b, _ in EXCLUSIVE)


def mini_concept(name: str) -> SliderConcept:
    from dmpbench.data.mini.faces_spec import ATTRIBUTES, caption

    if name not in ATTRIBUTES:
        raise unknown_concept(name, list(ATTRIBUTES))
    on = {name: 1.0}
    neutral = tuple(caption({}, {"gender": g}) for g in MINI_PRESERVED)
    positive = tuple(caption(on, {"gender": g}) for g in MINI_PRESERVED)
    subjects = [(noun, attrs) for noun, attrs in EVAL_SUBJECTS if not _involves(name, attrs)][:5]
    evals = tuple((caption(attrs, {"gender": noun}), caption({**attrs, **on}, {"gender": noun})) for noun, attrs in subjects)
    return SliderConcept(name, target=neutral, positive=positive, negative=neutral, neutral=neutral, eval_prompts=evals,
                         score_text=caption(on, {"gender": "person"}), init_word=MINI_INIT_WORDS[name])


def mini_concepts(names: list[str] | None = None) -> list[SliderConcept]:
    from dmpbench.data.mini.faces_spec import ATTRIBUTES

    return [mini_concept(n) for n in (names or list(ATTRIBUTES))]


#: the paper world's 20 person attributes: name -> (positive words, opposite words); this suite's choice
PAPER_CONCEPTS: dict[str, tuple[str, str]] = {
    "age": ("old", "young"), "smiling": ("smiling", "frowning"), "hair_length": ("long-haired", "short-haired"),
    "chubby": ("chubby", "thin"), "curly_hair": ("curly-haired", "straight-haired"), "surprised": ("surprised", "calm"),
    "beard": ("bearded", "clean-shaven"), "glasses": ("wearing glasses", "without glasses"),
    "muscular": ("muscular", "skinny"), "tanned": ("tanned", "pale"), "makeup": ("wearing makeup", "without makeup"),
    "bald": ("bald", "full-haired"), "angry": ("angry", "peaceful"), "sad": ("sad", "happy"),
    "tired": ("tired", "well-rested"), "freckles": ("freckled", "clear-skinned"), "blond": ("blond", "dark-haired"),
    "elegant": ("elegantly dressed", "casually dressed"), "wrinkles": ("wrinkled", "smooth-skinned"),
    "hat": ("wearing a hat", "bare-headed"),
}
PAPER_PRESERVED = ("male", "female")
#: A.9.2's five prompts (printed for "age"; used for every concept here)
PAPER_PROMPTS = (
    "A portrait of a woman with a warm smile, {}", "A person's face, {}",
    "A man sitting on a park bench, reminiscing about his youth, {}", "A couple of friends enjoying a picnic together, {}",
    "A photo of a person, {}",
)


def paper_concept(name: str) -> SliderConcept:
    if name not in PAPER_CONCEPTS:
        raise unknown_concept(name, list(PAPER_CONCEPTS))
    pos, neg = PAPER_CONCEPTS[name]
    # Concept Sliders' prompts.yaml: target = neutral = "person", positive = "<pos> person", unconditional = "<neg>
    # person", with each preserved attribute prefixed ("male person", "old male person")
    return SliderConcept(
        name, target=tuple(f"{p} person" for p in PAPER_PRESERVED),
        positive=tuple(f"{pos} {p} person" for p in PAPER_PRESERVED),
        negative=tuple(f"{neg} {p} person" for p in PAPER_PRESERVED),
        neutral=tuple(f"{p} person" for p in PAPER_PRESERVED),
        eval_prompts=tuple((t.format("").rstrip(", ").strip(), t.format(pos)) for t in PAPER_PROMPTS),
        score_text=pos, init_word=pos.split()[-1])


def paper_concepts(names: list[str] | None = None) -> list[SliderConcept]:
    return [paper_concept(n) for n in (names or list(PAPER_CONCEPTS))]


def concepts_for(world: str, names: list[str] | None = None) -> list[SliderConcept]:
    """The slider concepts of a world (all of them, or ``names``; unknown names are a one-line error)."""
    return mini_concepts(names) if world == "mini" else paper_concepts(names)


def unknown_concept(name, known: list[str]) -> DmpbenchError:
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(known)})"
    return DmpbenchError(f"unknown slider concept {name!r}{hint}")
