"""The reply machine: an institution's signed reply, announced by S3, verified and applied (issue 10)."""
