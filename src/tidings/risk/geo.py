"""Where major cities are, for the impossible-travel check (data, not a geocoder).

Names are matched case- and space-insensitively in Chinese or English; a city not listed
skips the travel check rather than guessing.
"""

from __future__ import annotations

import math
from typing import Final

EARTH_RADIUS_KM: Final = 6371.0

_CITIES: Final[tuple[tuple[str, str, float, float], ...]] = (
    # zh, en, latitude, longitude
    ("北京", "Beijing", 39.904, 116.407),
    ("上海", "Shanghai", 31.230, 121.474),
    ("广州", "Guangzhou", 23.129, 113.264),
    ("深圳", "Shenzhen", 22.543, 114.058),
    ("天津", "Tianjin", 39.343, 117.362),
    ("重庆", "Chongqing", 29.563, 106.551),
    ("成都", "Chengdu", 30.573, 104.066),
    ("杭州", "Hangzhou", 30.274, 120.155),
    ("南京", "Nanjing", 32.060, 118.797),
    ("武汉", "Wuhan", 30.593, 114.305),
    ("西安", "Xi'an", 34.342, 108.940),
    ("苏州", "Suzhou", 31.299, 120.585),
    ("郑州", "Zhengzhou", 34.747, 113.625),
    ("长沙", "Changsha", 28.228, 112.939),
    ("沈阳", "Shenyang", 41.806, 123.432),
    ("青岛", "Qingdao", 36.067, 120.383),
    ("大连", "Dalian", 38.914, 121.615),
    ("厦门", "Xiamen", 24.480, 118.089),
    ("昆明", "Kunming", 25.040, 102.712),
    ("哈尔滨", "Harbin", 45.803, 126.535),
    ("乌鲁木齐", "Urumqi", 43.825, 87.617),
    ("拉萨", "Lhasa", 29.652, 91.172),
    ("海口", "Haikou", 20.044, 110.199),
    ("三亚", "Sanya", 18.253, 109.512),
    ("香港", "Hong Kong", 22.320, 114.169),
    ("澳门", "Macau", 22.199, 113.544),
    ("台北", "Taipei", 25.033, 121.565),
    ("东京", "Tokyo", 35.676, 139.650),
    ("首尔", "Seoul", 37.567, 126.978),
    ("新加坡", "Singapore", 1.352, 103.820),
    ("曼谷", "Bangkok", 13.756, 100.502),
    ("吉隆坡", "Kuala Lumpur", 3.139, 101.687),
    ("悉尼", "Sydney", -33.869, 151.209),
    ("伦敦", "London", 51.507, -0.128),
    ("巴黎", "Paris", 48.857, 2.352),
    ("法兰克福", "Frankfurt", 50.110, 8.682),
    ("莫斯科", "Moscow", 55.756, 37.617),
    ("迪拜", "Dubai", 25.205, 55.271),
    ("纽约", "New York", 40.713, -74.006),
    ("旧金山", "San Francisco", 37.775, -122.419),
    ("洛杉矶", "Los Angeles", 34.052, -118.244),
    ("温哥华", "Vancouver", 49.283, -123.121),
    ("多伦多", "Toronto", 43.653, -79.383),
)


def _key(name: str) -> str:
    key = "".join(name.split()).casefold().replace("'", "")
    return key.removesuffix("市") if len(key) > 2 else key


_BY_NAME: Final[dict[str, tuple[float, float]]] = {
    _key(name): (lat, lon) for zh, en, lat, lon in _CITIES for name in (zh, en)
}


def locate(city: str | None) -> tuple[float, float] | None:
    """(latitude, longitude) of a listed city; None when unknown."""
    return _BY_NAME.get(_key(city)) if city else None


def same_city(a: str | None, b: str | None) -> bool:
    """Equal names, or two names of one listed city (北京 and Beijing)."""
    if a is None or b is None:
        return False
    if _key(a) == _key(b):
        return True
    where = locate(a)
    return where is not None and where == locate(b)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))
