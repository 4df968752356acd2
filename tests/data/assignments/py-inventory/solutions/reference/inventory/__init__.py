"""A tiny inventory: items, stock counts, categories."""

from inventory.core import (
    DEFAULT_CATEGORY,
    Category,
    Inventory,
    InventoryError,
    Item,
    OutOfStock,
    clock,
    restock_all,
)

__all__ = ["DEFAULT_CATEGORY", "Category", "Inventory", "InventoryError", "Item", "OutOfStock", "clock", "restock_all"]
