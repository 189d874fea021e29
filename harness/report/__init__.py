"""Outputs a person reads: the console, JUnit XML, the HTML report and its plots."""
