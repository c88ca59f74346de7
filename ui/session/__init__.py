"""Page state, declared once: the session keys (keys.py), the Item model and how items travel (item.py, no
Streamlit), every page's items (items.py), the address bar (url.py) and view bundles (bundles.py)."""
