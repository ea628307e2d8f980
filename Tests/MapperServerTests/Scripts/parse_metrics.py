"""Parses a Prometheus text exposition (the file named by the argument) with prometheus_client's parser (the reference
parser that scrapers share) and prints every sample as JSON:
{"families": {name: type}, "samples": [{"name", "labels", "value"}]}. Exits 1 with the
parser's message if the text does not parse."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as source:
    text = source.read()
families = {}
samples = []
try:
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
except Exception as error:  # the parser raises ValueError (and others) on bad input
    print(f"unparsable exposition: {error}", file=sys.stderr)
    sys.exit(1)
json.dump({"families": families, "samples": samples}, sys.stdout)
