"""Publish a trained model folder or a corpus to the Hugging Face Hub (see `hub/`).

    python push_to_hub.py model models/bc5cdr-scibert --repo-id OWNER/bc5cdr-joint-ner-re [--private]
    python push_to_hub.py dataset bc5cdr --data-dir ../shared/data/bc5cdr --repo-id OWNER/bc5cdr
    python push_to_hub.py model models/bc5cdr-scibert --local-dir /tmp/export   # no network: write only
    python push_to_hub.py space --model OWNER/bc5cdr-joint-ner-re --repo-id OWNER/bc5cdr-demo  # the Gradio demo

The token comes from HF_TOKEN or the cached `hf auth login`; it is never printed or written.
"""

import sys

from biomed_nerre.hub.cli import main

if __name__ == "__main__":
    sys.exit(main())
