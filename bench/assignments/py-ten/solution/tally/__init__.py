class Tally:
    def __init__(self):
        self.counts = {}

    def add(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n
        return self.counts[key]

    def total(self):
        return sum(self.counts.values())


def double(x):
    return 2 * x
