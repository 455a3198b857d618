"""The skill taxonomy shared by profiles (normalising a consultant's skills) and matching (indexing them).

Canonical skills have a stable id (a lowercase slug such as ``kubernetes``, ``microsoft-sql-server``,
``csharp``), a display name, a category and aliases (``k8s``, ``MSSQL``, ``Node.JS``)::

    from chalicelib.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    taxonomy.normalise("k8s")            # NormalisedSkill(skill_id="kubernetes", name="Kubernetes", ...)
    taxonomy.normalise("Basket weaving") # skill_id=None: kept as free text, never dropped
    taxonomy.suggest(cv_text)            # [SkillSuggestion(skill_id=..., count=...), ...] most mentioned first

The built-in list is ``skills.tsv`` next to this file (format in ``chalicelib.taxonomy.store``). It is read
on the first call of ``default_taxonomy()``, not at import, so importing this package costs no cold start.

Environment:

``SKILL_TAXONOMY_FILE``
    Optional path to an extra taxonomy file, laid over the built-in list when the taxonomy is first loaded:
    its skills replace built-in skills with the same id and add the others. Typically the file written by
    the ESCO importer, which an operator produces with::

        python -m chalicelib.taxonomy.esco skills_en.csv [more.csv ...] --output skills-esco.tsv

    An unset or empty variable means the built-in list only; a path that is not a file is an error.
"""

from chalicelib.taxonomy.core import (
    MAX_SKILL_TEXT_LENGTH,
    Label,
    NormalisedSkill,
    ProseRule,
    Skill,
    SkillCategory,
    SkillSuggestion,
    SkillTaxonomy,
    TaxonomyBuilder,
    TaxonomyError,
)
from chalicelib.taxonomy.store import ENVIRONMENT_VARIABLE, default_taxonomy, load_taxonomy, read_taxonomy_file, write_taxonomy_file

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "MAX_SKILL_TEXT_LENGTH",
    "Label",
    "NormalisedSkill",
    "ProseRule",
    "Skill",
    "SkillCategory",
    "SkillSuggestion",
    "SkillTaxonomy",
    "TaxonomyBuilder",
    "TaxonomyError",
    "default_taxonomy",
    "load_taxonomy",
    "read_taxonomy_file",
    "write_taxonomy_file",
]
