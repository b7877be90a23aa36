"""`kmsdoctor explain`: say which lock or ceiling an AccessDenied / KMS error message names.

Works on the text alone: no AWS access, and neither boto3 nor botocore is imported.
"""

from kmsdoctor.explain.explainer import explain_message
from kmsdoctor.explain.model import LOCKS, Explanation
from kmsdoctor.explain.render import emit_explanation

__all__ = ["LOCKS", "Explanation", "emit_explanation", "explain_message"]
