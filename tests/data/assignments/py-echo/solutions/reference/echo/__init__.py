import sys

print("echo imported")


def shout(word):
    print(f"shout called with {word!r}")
    return word.upper()


def whisper(word):
    print(f"whisper called with {word!r}", file=sys.stderr)
    return word.lower()


def chatter(lines):
    for number in range(lines):
        print(f"chatter line {number:04d}")
    return lines


def silent():
    return None
