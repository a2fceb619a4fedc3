"""The library and the command line are one product: `lzt.Tagger.load(...).tag(paths)` gives the
records that the `lzt tag` script prints, on the 128 real coco128 photos."""

import json

import lzt
from support import jsonl, run_lzt


def test_tagger_records_equal_the_cli_output(coco128, tiny_classifier, tmp_path):
    cli = run_lzt("tag", coco128 / "images", "-c", tiny_classifier, "--topk", "5", "--workers", "2",
                  "--cache-dir", tmp_path / "cli-cache", "-q")
    with lzt.Tagger.load(tiny_classifier, cache=tmp_path / "api-cache") as tagger:
        records = list(tagger.tag([coco128 / "images"], lzt.Selection(topk=5), workers=2))
    assert len(records) == 128 and all(record.ok for record in records)
    assert [json.dumps(record.to_dict()) for record in records] == cli.stdout.splitlines()
    assert jsonl(cli.stdout)[0]["tags"] == [{"label": label, "score": score} for label, score in records[0].tags]
