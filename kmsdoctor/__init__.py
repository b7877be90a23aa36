"""kmsdoctor: which lock is shut on a cross-account read of an SSE-KMS object."""

__version__ = "0.1.0"
