"""Generate ``data/sample_contacts.csv`` -- a SYNTHETIC Malaysian retail contact list.

Every row is made up: names are random combinations of common Malay, Chinese
and Indian name parts, phone numbers are random digits inside valid mobile
ranges, e-mail addresses use the reserved ``example.com`` / ``example.my``
domains, and dates, orders, outlets and amounts are random. No real person or
subscriber is represented.

The file is deliberately messy so the toolkit's cleaning code has something to
do: phones in many real-world formats (with stray spaces), Excel-mangled
numbers, invalid entries, a landline, foreign (SG/ID) numbers, repeated
subscribers, names in Chinese and Tamil script, "smart" punctuation, and
missing values in most columns.

Deterministic (``random.Random(2026)``), stdlib only. Regenerate with::

    python data/make_sample_contacts.py
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import Counter
from pathlib import Path

SEED = 2026
N_ROWS = 320
OUT = Path(__file__).resolve().parent / "sample_contacts.csv"
HEADER = ["name", "phone", "email", "dob", "desc", "order_id", "outlet", "amount"]

# --- phone quotas -----------------------------------------------------------
N_EXCEL_EXACT = 1  # 6.0198765432E10 -- all 11 digits survive
N_EXCEL_LOSSY = 1  # 6.01234567E10   -- trailing digits lost
N_FLOAT_TEXT = 1  # 60123456789.0
INVALID_PHONES = ["012-345", "N/A", "0123", "", "-"]  # unusable values
LANDLINE_PHONES = ["03-2161 2345"]  # valid, but not a mobile
N_SG = 3
N_ID = 2
N_DUP = 10  # extra rows re-using an earlier subscriber's number
N_DUP_SAME_FORMAT = 3  # ... of which written identically

# --- name quotas (applied to the non-duplicate rows) -------------------------
N_NAME_MISSING = 19
N_NAME_HAN = 26
N_NAME_TAMIL = 13
SMART_NAMES = [
    ("Anthony D\u2019Cruz", "anthony.dcruz"),
    ("Mary\u2019s Bakery", "marys.bakery"),
    ("Nur \u2018Ain binti Yusof", "ain.yusof"),
    ("Tan Ah Seng \u201cAlex\u201d", "alex.tan"),
]

N_EMAIL_MISSING = 48  # ~15 %
N_DOB_MISSING = 64  # ~20 %
N_ORDER_MISSING = 5
N_OUTLET_MISSING = 2

# Mobile prefixes -> allowed first subscriber digits (kept inside ranges that
# libphonenumber's metadata treats as allocated).
MY_MOBILE = {
    "10": "23",
    "11": "12345",
    "12": "23456789",
    "13": "23456789",
    "14": "2356789",
    "16": "23456789",
    "17": "23456789",
    "18": "23",
    "19": "23456789",
}
MY_PREFIX_WEIGHTS = {
    "10": 6,
    "11": 12,
    "12": 18,
    "13": 10,
    "14": 7,
    "16": 12,
    "17": 12,
    "18": 6,
    "19": 17,
}

# --- name parts --------------------------------------------------------------
MALAY_M = [
    "Muhammad Hafiz",
    "Ahmad Faiz",
    "Mohd Azlan",
    "Amirul Hakim",
    "Syafiq",
    "Muhammad Aiman",
    "Faris",
    "Izzat",
    "Khairul Anuar",
    "Rizal",
    "Zulkifli",
    "Azman",
    "Haziq",
    "Danial",
    "Mohd Firdaus",
    "Hakimi",
    "Shahrul Nizam",
    "Ikhwan",
    "Muhammad Irfan",
    "Fadzli",
]
MALAY_F = [
    "Nur Aisyah",
    "Siti Aminah",
    "Nur Syafiqah",
    "Farah Nadia",
    "Aina Sofea",
    "Nor Azizah",
    "Zarina",
    "Nurul Hidayah",
    "Nabilah",
    "Balqis",
    "Aqilah",
    "Intan Suraya",
    "Amira",
    "Siti Khadijah",
    "Nur Izzati",
    "Fatin Nabihah",
    "Hanis",
    "Syazwani",
    "Nur Farhana",
    "Rohana",
]
MALAY_FATHER = [
    "Ahmad",
    "Osman",
    "Ismail",
    "Abdullah",
    "Yusof",
    "Hassan",
    "Ibrahim",
    "Abdul Rahman",
    "Mohd Noor",
    "Hamzah",
    "Salleh",
    "Othman",
    "Ali",
    "Kassim",
    "Sulaiman",
    "Zainal",
    "Jamaludin",
    "Mustafa",
    "Rosli",
    "Harun",
]

CN_SURNAME = [
    "Tan",
    "Lim",
    "Lee",
    "Wong",
    "Ng",
    "Ong",
    "Goh",
    "Chong",
    "Teh",
    "Chan",
    "Yap",
    "Low",
    "Koh",
    "Lau",
    "Chua",
    "Khoo",
    "Leong",
    "Tay",
    "Cheah",
    "Yeoh",
    "Foo",
    "Liew",
    "Ho",
    "Loh",
]
CN_GIVEN = [
    "Wei Ming",
    "Mei Ling",
    "Jia Hui",
    "Kah Wai",
    "Chee Keong",
    "Siew Ling",
    "Boon Hock",
    "Hui Min",
    "Zi Xuan",
    "Jun Hao",
    "Xin Yi",
    "Kok Leong",
    "Pei Shan",
    "Wai Kit",
    "Li Ying",
    "Yee Ling",
    "Soon Huat",
    "Mei Yee",
    "Chin Hong",
    "Kar Mun",
    "Wen Jie",
    "Shu Fen",
]
CN_ENGLISH = [
    "Jason",
    "Michelle",
    "Kelvin",
    "Jessica",
    "Alvin",
    "Vivian",
    "Eric",
    "Karen",
    "Daniel",
    "Grace",
    "Ryan",
    "Joanne",
]

IN_M = [
    "Kumar",
    "Rajesh",
    "Suresh",
    "Ganesh",
    "Arun",
    "Vijay",
    "Prakash",
    "Dinesh",
    "Ravi",
    "Saravanan",
    "Muthu",
    "Kannan",
    "Selvam",
    "Thinesh",
    "Vikneswaran",
]
IN_F = [
    "Priya",
    "Kavitha",
    "Devi",
    "Lakshmi",
    "Meena",
    "Shanti",
    "Kalaivani",
    "Revathi",
    "Sangeetha",
    "Malar",
    "Anitha",
    "Thilaga",
    "Yogeswari",
]
IN_FATHER = [
    "Subramaniam",
    "Rajan",
    "Krishnan",
    "Muniandy",
    "Ramasamy",
    "Arumugam",
    "Perumal",
    "Velu",
    "Govindasamy",
    "Nadarajah",
    "Maniam",
    "Sinnasamy",
]

# Han script: (character, Malaysian romanisation)
HAN_SURNAME = [
    ("陈", "tan"),
    ("林", "lim"),
    ("黄", "wong"),
    ("李", "lee"),
    ("张", "chong"),
    ("王", "ong"),
    ("吴", "goh"),
    ("刘", "lau"),
    ("蔡", "chua"),
    ("杨", "yeoh"),
    ("郑", "tay"),
    ("谢", "cheah"),
    ("梁", "leong"),
    ("许", "khoo"),
    ("罗", "loh"),
]
HAN_GIVEN = [
    ("伟", "wei"),
    ("明", "ming"),
    ("美", "mei"),
    ("玲", "ling"),
    ("志", "chee"),
    ("强", "keong"),
    ("慧", "hui"),
    ("敏", "min"),
    ("家", "kah"),
    ("豪", "hao"),
    ("欣", "xin"),
    ("俊", "jun"),
    ("杰", "kit"),
    ("丽", "li"),
    ("华", "wah"),
    ("文", "wen"),
    ("佳", "jia"),
    ("怡", "yee"),
    ("婷", "ting"),
    ("秀", "siew"),
    ("英", "ying"),
    ("荣", "weng"),
]

# Tamil script: (name, romanisation)
TAMIL_GIVEN = [
    ("குமார்", "kumar"),
    ("பிரியா", "priya"),
    ("கவிதா", "kavitha"),
    ("முருகன்", "murugan"),
    ("லட்சுமி", "lakshmi"),
    ("சுரேஷ்", "suresh"),
    ("தேவி", "devi"),
    ("கணேசன்", "ganesan"),
    ("மீனா", "meena"),
    ("ரவி", "ravi"),
    ("செல்வி", "selvi"),
    ("அருண்", "arun"),
]
TAMIL_FATHER = [
    ("ராஜன்", "rajan"),
    ("சுப்பிரமணியம்", "subramaniam"),
    ("கிருஷ்ணன்", "krishnan"),
    ("முனியாண்டி", "muniandy"),
    ("வேலு", "velu"),
]

OUTLETS = [
    ("Mid Valley", 14),
    ("Sunway Pyramid", 12),
    ("Pavilion KL", 8),
    ("1 Utama", 8),
    ("IOI City Mall", 6),
    ("Penang Gurney", 9),
    ("Johor Bahru City Square", 8),
    ("Kota Kinabalu Imago", 5),
    ("Ipoh Parade", 5),
    ("Kuching Vivacity", 5),
    ("Melaka Mahkota", 5),
    ("Setia City Mall", 4),
    ("Seremban AEON", 3),
]
DESCS = [
    ("", 30),
    ("member", 25),
    ("VIP", 8),
    ("new", 15),
    ("walk-in", 6),
    ("returning", 8),
    ("birthday promo", 4),
    ("staff", 2),
    ("member; VIP", 2),
]


def wchoice(rng: random.Random, pairs):
    items, weights = zip(*pairs)
    return rng.choices(items, weights=weights, k=1)[0]


# --- people -----------------------------------------------------------------


def latin_person(rng: random.Random):
    """Return (display name, email local part) for a romanised name."""
    kind = rng.choices(["malay", "chinese", "indian"], weights=[50, 32, 18])[0]
    if kind == "malay":
        male = rng.random() < 0.5
        given = rng.choice(MALAY_M if male else MALAY_F)
        father = rng.choice(MALAY_FATHER)
        rel = "bin" if male else "binti"
        if rng.random() < 0.08:
            rel = "b." if male else "bt."
        name = f"{given} {rel} {father}"
        local = f"{given.split()[-1]}.{father.split()[-1]}"
    elif kind == "chinese":
        sur, given = rng.choice(CN_SURNAME), rng.choice(CN_GIVEN)
        if rng.random() < 0.2:
            eng = rng.choice(CN_ENGLISH)
            name = f"{eng} {sur} {given}"
            local = f"{eng}.{sur}"
        else:
            name = f"{sur} {given}"
            local = f"{given.replace(' ', '')}.{sur}"
    else:
        male = rng.random() < 0.55
        given = rng.choice(IN_M if male else IN_F)
        father = rng.choice(IN_FATHER)
        name = f"{given} {'a/l' if male else 'a/p'} {father}"
        local = f"{given}.{father}"
    if rng.random() < 0.05:  # somebody typed it in caps
        name = name.upper()
    return kind, name, local.lower()


def han_person(rng: random.Random):
    (s, s_r) = rng.choice(HAN_SURNAME)
    g = rng.sample(HAN_GIVEN, 2 if rng.random() < 0.85 else 1)
    name = s + "".join(c for c, _ in g)
    local = "".join(r for _, r in g) + "." + s_r
    return name, local


def tamil_person(rng: random.Random):
    (g, g_r) = rng.choice(TAMIL_GIVEN)
    if rng.random() < 0.5:
        (f, f_r) = rng.choice(TAMIL_FATHER)
        return f"{g} {f}", f"{g_r}.{f_r}"
    return g, g_r


# --- phones -----------------------------------------------------------------


def my_national(rng: random.Random) -> str:
    """Random valid Malaysian mobile, national form ('0' + 9 or 10 digits)."""
    pre = wchoice(rng, MY_PREFIX_WEIGHTS.items())
    n_sub = 8 if pre == "11" else 7
    sub = rng.choice(MY_MOBILE[pre]) + "".join(rng.choice("0123456789") for _ in range(n_sub - 1))
    return "0" + pre + sub


def fmt_my(nat: str, style: str) -> str:
    pre, sub = nat[1:3], nat[3:]
    a, b = sub[:-4], sub[-4:]
    intl = "60" + nat[1:]
    return {
        "dash_space": f"0{pre}-{a} {b}",
        "dash": f"0{pre}-{sub}",
        "plain": nat,
        "intl_dash": f"+60 {pre}-{a} {b}",
        "intl_plain": "+" + intl,
        "intl_00": "00" + intl,
        "intl_bare": intl,
        "paren": f"(0{pre}) {a}-{b}",
        "spaces": f"0{pre} {a} {b}",
        "dots": f"0{pre}.{a}.{b}",
    }[style]


MY_STYLES = [
    ("dash_space", 24),
    ("plain", 20),
    ("dash", 10),
    ("intl_plain", 10),
    ("intl_dash", 8),
    ("intl_bare", 8),
    ("spaces", 8),
    ("intl_00", 4),
    ("paren", 4),
    ("dots", 4),
]


def maybe_pad(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.03:
        return " " + s
    if r < 0.06:
        return s + " "
    if r < 0.075:
        return "  " + s + " "
    return s


def sg_phone(rng: random.Random) -> str:
    first = rng.choice("89")
    second = rng.choice("1234567") if first == "8" else rng.choice("0123478")
    d = first + second + "".join(rng.choice("0123456789") for _ in range(6))
    return f"+65 {d[:4]} {d[4:]}"


def id_phone(rng: random.Random) -> str:
    pre = rng.choice(["812", "813", "821", "822", "852", "857", "878"])
    d = "".join(rng.choice("0123456789") for _ in range(8))
    return f"+62 {pre}-{d[:4]}-{d[4:]}"


def build_phones(rng: random.Random):
    """Return a list of (phone text, category, national-or-None) of length N_ROWS - N_DUP,
    plus the list of duplicate phone rows (text, category, index of source row)."""
    used: set[str] = set()

    def fresh(cond=lambda n: True) -> str:
        while True:
            n = my_national(rng)
            if n not in used and cond(n):
                used.add(n)
                return n

    phones = []
    nat = fresh(lambda n: len(n) == 10 and n[-1] != "0")
    phones.append(("6." + ("60" + nat[1:])[1:] + "E10", "excel_exact", nat))
    nat = fresh(lambda n: len(n) == 10 and n[8] != "0" and n[9:] != "0" * len(n[9:]))
    intl = "60" + nat[1:]
    phones.append(("6." + intl[1:9] + "E10", "excel_lossy", None))
    nat = fresh()
    phones.append(("60" + nat[1:] + ".0", "float_text", nat))
    phones += [(p, "invalid", None) for p in INVALID_PHONES]
    phones += [(p, "landline", None) for p in LANDLINE_PHONES]
    phones += [(sg_phone(rng), "sg", None) for _ in range(N_SG)]
    phones += [(id_phone(rng), "id", None) for _ in range(N_ID)]
    n_valid = N_ROWS - N_DUP - len(phones)
    for _ in range(n_valid):
        nat = fresh()
        phones.append((maybe_pad(rng, fmt_my(nat, wchoice(rng, MY_STYLES))), "my_mobile", nat))

    # duplicates: re-use the numbers of N_DUP distinct ordinary subscribers
    candidates = [i for i, p in enumerate(phones) if p[1] == "my_mobile"]
    sources = rng.sample(candidates, N_DUP)
    dups = []
    for k, src in enumerate(sources):
        text, _, nat = phones[src]
        if k < N_DUP_SAME_FORMAT:
            dups.append((text, "dup_same_format", src))
        else:
            style = wchoice(rng, MY_STYLES)
            while fmt_my(nat, style) == text.strip():
                style = wchoice(rng, MY_STYLES)
            dups.append((fmt_my(nat, style), "dup_other_format", src))
    return phones, dups


# --- other columns ----------------------------------------------------------


def rand_dob(rng: random.Random) -> str:
    lo, hi = dt.date(1965, 1, 1), dt.date(2005, 12, 31)
    return (lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))).isoformat()


def rand_amount(rng: random.Random) -> str:
    tier = rng.random()
    if tier < 0.55:
        cents = rng.randint(1, 10) * 1000 - 10  # 9.90 .. 99.90
        if rng.random() < 0.3:
            cents = rng.randint(10, 99) * 100 + rng.choice([0, 50, 90])
    elif tier < 0.88:
        cents = rng.randint(10, 49) * 1000 + rng.choice([0, 0, -10, 900, 990])  # 100 .. 500
    else:
        cents = rng.randint(5, 30) * 10000 + rng.choice([0, -100, 9900])  # 500 .. 3000
    return f"{cents // 100}.{cents % 100:02d}"


def generate(seed: int = SEED):
    """Return (rows, categories) where categories[i] is a dict describing row i."""
    rng = random.Random(seed)
    phones, dups = build_phones(rng)
    n_base = len(phones)

    # names for the base rows by quota
    kinds = (
        ["missing"] * N_NAME_MISSING
        + ["han"] * N_NAME_HAN
        + ["tamil"] * N_NAME_TAMIL
        + ["smart"] * len(SMART_NAMES)
    )
    kinds += ["latin"] * (n_base - len(kinds))
    rng.shuffle(kinds)
    smart = iter(SMART_NAMES)
    people = []
    for kind in kinds:
        if kind == "han":
            name, local = han_person(rng)
        elif kind == "tamil":
            name, local = tamil_person(rng)
        elif kind == "smart":
            name, local = next(smart)
        else:
            sub, name, local = latin_person(rng)
            if kind == "latin":
                kind = sub
            else:  # name left blank, e-mail may still exist
                name = ""
        people.append({"kind": kind, "name": name, "local": local})

    email_missing = set(rng.sample(range(n_base), N_EMAIL_MISSING))
    dob_missing = set(rng.sample(range(n_base), N_DOB_MISSING))
    seen_local: Counter = Counter()
    for i, p in enumerate(people):
        if i in email_missing:
            p["email"] = ""
        else:
            seen_local[p["local"]] += 1
            local = p["local"]
            if seen_local[local] > 1 or rng.random() < 0.12:
                local += str(rng.randint(1, 99))
            p["email"] = f"{local}@{rng.choice(['example.com', 'example.com', 'example.my'])}"
        p["dob"] = "" if i in dob_missing else rand_dob(rng)

    rows, cats = [], []
    for (text, pcat, _), p in zip(phones, people):
        rows.append({"name": p["name"], "phone": text, "email": p["email"], "dob": p["dob"]})
        cats.append({"phone": pcat, "name": p["kind"]})
    # duplicate rows: mostly the same customer again, sometimes a family member
    for k, (text, pcat, src) in enumerate(dups):
        if k % 5 == 4:
            sub, name, local = latin_person(rng)
            row = {
                "name": name,
                "phone": text,
                "email": f"{local}{rng.randint(1, 99)}@example.my",
                "dob": rand_dob(rng),
            }
            kind = sub
        else:
            row = dict(rows[src], phone=text)
            kind = cats[src]["name"]
        rows.append(row)
        cats.append({"phone": pcat, "name": kind, "dup_of": src})

    n = len(rows)
    order_nums = sorted(rng.sample(range(1, 20000), n))
    order_missing = set(rng.sample(range(n), N_ORDER_MISSING))
    outlet_missing = set(rng.sample(range(n), N_OUTLET_MISSING))
    for i, row in enumerate(rows):
        row["desc"] = wchoice(rng, DESCS)
        row["order_id"] = "" if i in order_missing else f"ORD-2026-{order_nums[i]:06d}"
        row["outlet"] = "" if i in outlet_missing else wchoice(rng, OUTLETS)
        row["amount"] = rand_amount(rng)

    # natural-looking order: shuffle rows (keep categories aligned)
    order = list(range(n))
    rng.shuffle(order)
    return [rows[i] for i in order], [cats[i] for i in order]


def main() -> None:
    rows, cats = generate()
    assert len(rows) == N_ROWS
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")
    print("phone:", dict(Counter(c["phone"] for c in cats)))
    print("name :", dict(Counter(c["name"] for c in cats)))
    print(
        "email missing:",
        sum(not r["email"] for r in rows),
        "| dob missing:",
        sum(not r["dob"] for r in rows),
        "| order_id missing:",
        sum(not r["order_id"] for r in rows),
        "| outlet missing:",
        sum(not r["outlet"] for r in rows),
        "| desc empty:",
        sum(not r["desc"] for r in rows),
    )


if __name__ == "__main__":
    main()
