"""The data contract and the feature transforms: tables in, feature frames out.

Transforms do no I/O.
"""
