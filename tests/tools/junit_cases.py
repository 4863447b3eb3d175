#!/usr/bin/python3
"""Prints "Suite.Case<TAB>ok|fail" for each test case in a gtest JUnit XML file."""
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
for case in root.iter("testcase"):
    name = f'{case.get("classname")}.{case.get("name")}'
    bad = case.find("failure") is not None or case.find("error") is not None
    print(f"{name}\t{'fail' if bad else 'ok'}")
