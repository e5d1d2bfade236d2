import sys
from pathlib import Path

# Let tests import their shared helpers (tests/refine_cases.py) as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))
