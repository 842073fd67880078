"""The desktop app: PySide6 widgets over the Qt-free client core (the only Qt in the tree)."""
