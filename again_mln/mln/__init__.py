"""The Markov logic engine: pracmln's language and files, grounding by joins over the evidence,
and exact answers on the ground network. It knows nothing of concepts or categories.

    >>> from again_mln.mln import read_mln, read_db, query
    >>> mln = read_mln("smoking.mln")
    >>> answers = query(mln, read_db("smoking-test.db", mln), ["Smokes", "Cancer"], closed_world=["Friends"])
    >>> answers[0].to_dict()                                    # doctest: +SKIP
"""
from again_mln.mln.answers import METHODS, Answer, answers_from, format_csv, format_table, query
from again_mln.mln.files import format_db, format_mln, parse_db, parse_formula, parse_mln, read_db, read_mln
from again_mln.mln.grounding import GROUNDING_LIMIT
from again_mln.mln.model import MLN, Database, Predicate, WeightedFormula

__all__ = ["MLN", "Database", "Predicate", "WeightedFormula", "Answer", "METHODS", "GROUNDING_LIMIT",
           "read_mln", "read_db", "parse_mln", "parse_db", "parse_formula", "format_mln", "format_db",
           "query", "answers_from", "format_table", "format_csv"]
