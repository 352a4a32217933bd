"""A Tweets.csv for seed 002's demo, made up but shaped like the original (Twitter US Airline Sentiment):
the same 15 columns, 14,640 rows, its mix of sentiments and airlines, and 138 texts that hold line
breaks inside quotes. The same seed writes the same file, byte for byte; the texts are invented."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROWS = 14_640
MULTILINE = 138
COLUMNS = ("tweet_id", "airline_sentiment", "airline_sentiment_confidence", "negativereason",
           "negativereason_confidence", "airline", "airline_sentiment_gold", "name", "negativereason_gold",
           "retweet_count", "text", "tweet_coord", "tweet_created", "tweet_location", "user_timezone")
AIRLINES = {"United": 3822, "US Airways": 2913, "American": 2759, "Southwest": 2420, "Delta": 2222,
            "Virgin America": 504}
HANDLES = {"United": "united", "US Airways": "USAirways", "American": "AmericanAir", "Southwest": "SouthwestAir",
           "Delta": "Delta", "Virgin America": "VirginAmerica"}
SENTIMENTS = {"negative": 9178, "neutral": 3099, "positive": 2363}
REASONS = ("Customer Service Issue", "Late Flight", "Can't Tell", "Cancelled Flight", "Lost Luggage",
           "Bad Flight", "Flight Booking Problems", "Flight Attendant Complaints", "longlines", "Damaged Luggage")
PLACES = ("Boston", "Chicago", "Denver", "Houston", "Los Angeles", "New York", "Newark", "Philadelphia", "Phoenix",
          "San Francisco", "Seattle", "Washington DC", "Dallas", "Miami", "Atlanta")
ZONES = ("Eastern Time (US & Canada)", "Central Time (US & Canada)", "Pacific Time (US & Canada)", "Quito", "")
TEXTS = {
    "negative": ("flight {n} delayed again, {hours} hours at the gate and nobody tells us anything",
                 "worst customer service ever. on hold for {hours} hours",
                 "you lost my bag between {a} and {b}. third time this year",
                 "flight cancelled and no rebooking until thursday, terrible",
                 "seat broken, no wifi, rude crew on {n}. never again",
                 "missed my connection in {a} because of your late departure. awful"),
    "neutral": ("what time does the first flight from {a} to {b} leave tomorrow",
                "is there a fee to change my flight to {b}?",
                "do you fly nonstop from {a} to {b}",
                "can I bring a guitar as a carry on",
                "just landed in {b}", "checking in for {n} to {b}"),
    "positive": ("thank you for the smooth flight to {b}, great crew on {n}!",
                 "love the new seats, best flight I've had in a while",
                 "awesome service at the {a} gate today, thanks!",
                 "the crew on {n} was amazing and so friendly", "great job getting us to {b} early!",
                 "happy to be flying with you again, you guys rock"),
}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def rows(count: int = ROWS, seed: int = 2015) -> list[dict[str, str]]:
    rng = random.Random(seed)
    multiline = set(rng.sample(range(count), min(MULTILINE, count)))
    start = datetime(2015, 2, 16, 23, 36, tzinfo=UTC)
    out = []
    for i in range(count):
        sentiment, airline = _weighted(rng, SENTIMENTS), _weighted(rng, AIRLINES)
        a, b = rng.sample(PLACES, 2)
        text = f"@{HANDLES[airline]} " + rng.choice(TEXTS[sentiment]).format(
            n=f"{rng.randint(100, 2999)}", hours=rng.randint(2, 9), a=a, b=b)
        if i in multiline:
            text += f"\n#{rng.choice(('travel', 'fail', 'thanks', 'help'))}\nsent from {rng.choice(PLACES)}"
        reason = rng.choice(REASONS) if sentiment == "negative" else ""
        out.append({
            "tweet_id": str(570306133677760513 - i * 17_031), "airline_sentiment": sentiment,
            "airline_sentiment_confidence": f"{rng.uniform(0.34, 1.0):.4f}".rstrip("0").rstrip("."),
            "negativereason": reason, "negativereason_confidence": f"{rng.uniform(0.0, 1.0):.4f}" if reason else "",
            "airline": airline, "airline_sentiment_gold": "", "name": f"traveller{rng.randint(1, 9999)}",
            "negativereason_gold": "", "retweet_count": str(rng.choices((0, 1, 2), weights=(94, 5, 1))[0]),
            "text": text, "tweet_coord": "",
            "tweet_created": (start - timedelta(seconds=i * 53)).strftime("%Y-%m-%d %H:%M:%S -0800"),
            "tweet_location": rng.choice((*PLACES, "")), "user_timezone": rng.choice(ZONES),
        })
    return out


def write(path: Path, count: int = ROWS) -> Path:
    """Writes the file (header and `count` rows) with standard CSV quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows(count))
    return path
