"""Serving's controllers: Service -> Configuration + Route; Configuration -> Revisions; Revision -> Pods."""
