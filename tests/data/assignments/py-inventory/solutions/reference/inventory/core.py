import contextlib
import dataclasses
import enum
import time
from decimal import Decimal


class InventoryError(Exception):
    """Base of every error of the inventory."""


class OutOfStock(InventoryError):
    def __init__(self, sku, wanted, available):
        super().__init__(f"only {available} of {sku} in stock, {wanted} wanted")
        self.sku = sku
        self.wanted = wanted
        self.available = available


class Category(enum.Enum):
    FOOD = "food"
    TOOLS = "tools"


DEFAULT_CATEGORY = Category.TOOLS


def clock():
    return time.time()


@dataclasses.dataclass(frozen=True)
class Item:
    sku: str
    name: str
    price: Decimal
    category: Category = Category.TOOLS


class Inventory:
    def __init__(self):
        self._items = {}
        self._stock = {}
        self.log = []

    def add(self, item, qty=1):
        if qty <= 0:
            raise ValueError("quantity must be positive")
        self._items[item.sku] = item
        self._stock[item.sku] = self._stock.get(item.sku, 0) + qty
        self.log.append((clock(), item.sku, qty))
        print(f"added {qty} x {item.sku}")
        return self._stock[item.sku]

    def take(self, sku, qty=1):
        available = self._stock.get(sku, 0)
        if qty > available:
            raise OutOfStock(sku, qty, available)
        self._stock[sku] = available - qty
        return self._stock[sku]

    def count(self, sku):
        if sku not in self._items:
            raise KeyError(sku)
        return self._stock[sku]

    def skus(self):
        return sorted(self._items)

    def items(self):
        return [self._items[sku] for sku in self.skus()]

    def by_category(self):
        grouped = {}
        for item in self.items():
            grouped.setdefault(item.category, []).append(item)
        return grouped

    def total_value(self):
        return sum((self._items[s].price * n for s, n in self._stock.items()), Decimal("0"))

    def apply(self, rule):
        """New counts from rule(item, count) for every item."""
        for sku in self.skus():
            self._stock[sku] = int(rule(self._items[sku], self._stock[sku]))

    @contextlib.contextmanager
    def transaction(self):
        saved = dict(self._stock)
        try:
            yield self
        except Exception:
            self._stock = saved
            raise

    def __len__(self):
        return len(self._items)

    def __contains__(self, sku):
        return sku in self._items

    def __iter__(self):
        for sku in self.skus():
            yield self._items[sku]

    def __getitem__(self, sku):
        return self._items[sku]


def restock_all(inventory, qty):
    for item in inventory.items():
        inventory.add(item, qty)
    return len(inventory)
