"""`kproof lint`: checks Knative manifests against the seeds' practices and Knative's own rules.

manifests.py reads files with positions, rules.py names the rules, practices.py, forms.py and
admission.py check one document each, engine.py runs them over files, fix.py rewrites deprecated
forms, output.py writes text, JSON or SARIF; the command line's flow is kproof/commands/lint.py.
"""

from kproof.lint.engine import Report, lint_paths
from kproof.lint.rules import RULES, Finding, Options, Rule

__all__ = ["RULES", "Finding", "Options", "Report", "Rule", "lint_paths"]
