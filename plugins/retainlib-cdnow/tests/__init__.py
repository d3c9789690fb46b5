"""Tests of the ``retainlib-cdnow`` plugin.

A package so that type checkers tell its ``test_fuzz`` from the stripe plugin's (both folders are ``tests``).
"""
