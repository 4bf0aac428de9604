"""Local authorities of the United Kingdom since 2014: GSS codes, names, and where retired codes went.

Written down from ONS's published facts (Open Government Licence v3.0): the *Local Authority
Districts (December 2014 … December 2024) Names and Codes in the United Kingdom* lists and the
*Code History Database*, which records each code's start, end and successor. Each reorganisation
below names the statutory order behind it. The names are ONS's (``Kingston upon Hull, City of``),
with the other spellings publishers use as aliases (``Shepway`` before its 2018 rename, ``North Down
and Ards``, ``St. Helens``); names are compared without case, punctuation or a leading ``The``.

What it is for: Home Office tables (Asy_D11) carry a code and a name on every row, and the two
sometimes disagree (a row whose code is another authority's); figures for districts that later
merged are published under the old codes; and the same authority is spelt more than one way.
:func:`check` tells a row's code from its name; :func:`current` follows a retired code to the
authority that holds its area today.

Tested against the codes and names the September 2024 Asy_D11 release itself uses
(tests/test_asy_d11_release.py).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from dataclasses import dataclass

#: ``code|name|other spellings (;)``: every local authority district / unitary / council area /
#: district council area of the UK in use at any time since April 2014.
_TABLE = """
E06000001|Hartlepool
E06000002|Middlesbrough
E06000003|Redcar and Cleveland
E06000004|Stockton-on-Tees
E06000005|Darlington
E06000006|Halton
E06000007|Warrington
E06000008|Blackburn with Darwen
E06000009|Blackpool
E06000010|Kingston upon Hull, City of|Hull
E06000011|East Riding of Yorkshire
E06000012|North East Lincolnshire
E06000013|North Lincolnshire
E06000014|York
E06000015|Derby
E06000016|Leicester
E06000017|Rutland
E06000018|Nottingham
E06000019|Herefordshire, County of|Herefordshire
E06000020|Telford and Wrekin
E06000021|Stoke-on-Trent
E06000022|Bath and North East Somerset
E06000023|Bristol, City of|Bristol
E06000024|North Somerset
E06000025|South Gloucestershire
E06000026|Plymouth
E06000027|Torbay
E06000028|Bournemouth
E06000029|Poole
E06000030|Swindon
E06000031|Peterborough
E06000032|Luton
E06000033|Southend-on-Sea
E06000034|Thurrock
E06000035|Medway
E06000036|Bracknell Forest
E06000037|West Berkshire
E06000038|Reading
E06000039|Slough
E06000040|Windsor and Maidenhead
E06000041|Wokingham
E06000042|Milton Keynes
E06000043|Brighton and Hove
E06000044|Portsmouth
E06000045|Southampton
E06000046|Isle of Wight
E06000047|County Durham|Durham
E06000048|Northumberland
E06000049|Cheshire East
E06000050|Cheshire West and Chester
E06000051|Shropshire
E06000052|Cornwall
E06000053|Isles of Scilly
E06000054|Wiltshire
E06000055|Bedford
E06000056|Central Bedfordshire
E06000057|Northumberland
E06000058|Bournemouth, Christchurch and Poole
E06000059|Dorset
E06000060|Buckinghamshire
E06000061|North Northamptonshire
E06000062|West Northamptonshire
E06000063|Cumberland
E06000064|Westmorland and Furness
E06000065|North Yorkshire
E06000066|Somerset
E07000004|Aylesbury Vale
E07000005|Chiltern
E07000006|South Bucks
E07000007|Wycombe
E07000008|Cambridge
E07000009|East Cambridgeshire
E07000010|Fenland
E07000011|Huntingdonshire
E07000012|South Cambridgeshire
E07000026|Allerdale
E07000027|Barrow-in-Furness
E07000028|Carlisle
E07000029|Copeland
E07000030|Eden
E07000031|South Lakeland
E07000032|Amber Valley
E07000033|Bolsover
E07000034|Chesterfield
E07000035|Derbyshire Dales
E07000036|Erewash
E07000037|High Peak
E07000038|North East Derbyshire
E07000039|South Derbyshire
E07000040|East Devon
E07000041|Exeter
E07000042|Mid Devon
E07000043|North Devon
E07000044|South Hams
E07000045|Teignbridge
E07000046|Torridge
E07000047|West Devon
E07000048|Christchurch
E07000049|East Dorset
E07000050|North Dorset
E07000051|Purbeck
E07000052|West Dorset
E07000053|Weymouth and Portland
E07000061|Eastbourne
E07000062|Hastings
E07000063|Lewes
E07000064|Rother
E07000065|Wealden
E07000066|Basildon
E07000067|Braintree
E07000068|Brentwood
E07000069|Castle Point
E07000070|Chelmsford
E07000071|Colchester
E07000072|Epping Forest
E07000073|Harlow
E07000074|Maldon
E07000075|Rochford
E07000076|Tendring
E07000077|Uttlesford
E07000078|Cheltenham
E07000079|Cotswold
E07000080|Forest of Dean
E07000081|Gloucester
E07000082|Stroud
E07000083|Tewkesbury
E07000084|Basingstoke and Deane
E07000085|East Hampshire
E07000086|Eastleigh
E07000087|Fareham
E07000088|Gosport
E07000089|Hart
E07000090|Havant
E07000091|New Forest
E07000092|Rushmoor
E07000093|Test Valley
E07000094|Winchester
E07000095|Broxbourne
E07000096|Dacorum
E07000097|East Hertfordshire
E07000098|Hertsmere
E07000099|North Hertfordshire
E07000100|St Albans
E07000101|Stevenage
E07000102|Three Rivers
E07000103|Watford
E07000104|Welwyn Hatfield
E07000105|Ashford
E07000106|Canterbury
E07000107|Dartford
E07000108|Dover
E07000109|Gravesham
E07000110|Maidstone
E07000111|Sevenoaks
E07000112|Folkestone and Hythe|Shepway
E07000113|Swale
E07000114|Thanet
E07000115|Tonbridge and Malling
E07000116|Tunbridge Wells
E07000117|Burnley
E07000118|Chorley
E07000119|Fylde
E07000120|Hyndburn
E07000121|Lancaster
E07000122|Pendle
E07000123|Preston
E07000124|Ribble Valley
E07000125|Rossendale
E07000126|South Ribble
E07000127|West Lancashire
E07000128|Wyre
E07000129|Blaby
E07000130|Charnwood
E07000131|Harborough
E07000132|Hinckley and Bosworth
E07000133|Melton
E07000134|North West Leicestershire
E07000135|Oadby and Wigston
E07000136|Boston
E07000137|East Lindsey
E07000138|Lincoln
E07000139|North Kesteven
E07000140|South Holland
E07000141|South Kesteven
E07000142|West Lindsey
E07000143|Breckland
E07000144|Broadland
E07000145|Great Yarmouth
E07000146|King's Lynn and West Norfolk
E07000147|North Norfolk
E07000148|Norwich
E07000149|South Norfolk
E07000150|Corby
E07000151|Daventry
E07000152|East Northamptonshire
E07000153|Kettering
E07000154|Northampton
E07000155|South Northamptonshire
E07000156|Wellingborough
E07000163|Craven
E07000164|Hambleton
E07000165|Harrogate
E07000166|Richmondshire
E07000167|Ryedale
E07000168|Scarborough
E07000169|Selby
E07000170|Ashfield
E07000171|Bassetlaw
E07000172|Broxtowe
E07000173|Gedling
E07000174|Mansfield
E07000175|Newark and Sherwood
E07000176|Rushcliffe
E07000177|Cherwell
E07000178|Oxford
E07000179|South Oxfordshire
E07000180|Vale of White Horse
E07000181|West Oxfordshire
E07000187|Mendip
E07000188|Sedgemoor
E07000189|South Somerset
E07000190|Taunton Deane
E07000191|West Somerset
E07000192|Cannock Chase
E07000193|East Staffordshire
E07000194|Lichfield
E07000195|Newcastle-under-Lyme
E07000196|South Staffordshire
E07000197|Stafford
E07000198|Staffordshire Moorlands
E07000199|Tamworth
E07000200|Babergh
E07000201|Forest Heath
E07000202|Ipswich
E07000203|Mid Suffolk
E07000204|St Edmundsbury
E07000205|Suffolk Coastal
E07000206|Waveney
E07000207|Elmbridge
E07000208|Epsom and Ewell
E07000209|Guildford
E07000210|Mole Valley
E07000211|Reigate and Banstead
E07000212|Runnymede
E07000213|Spelthorne
E07000214|Surrey Heath
E07000215|Tandridge
E07000216|Waverley
E07000217|Woking
E07000218|North Warwickshire
E07000219|Nuneaton and Bedworth
E07000220|Rugby
E07000221|Stratford-on-Avon
E07000222|Warwick
E07000223|Adur
E07000224|Arun
E07000225|Chichester
E07000226|Crawley
E07000227|Horsham
E07000228|Mid Sussex
E07000229|Worthing
E07000234|Bromsgrove
E07000235|Malvern Hills
E07000236|Redditch
E07000237|Worcester
E07000238|Wychavon
E07000239|Wyre Forest
E07000240|St Albans
E07000241|Welwyn Hatfield
E07000242|East Hertfordshire
E07000243|Stevenage
E07000244|East Suffolk
E07000245|West Suffolk
E07000246|Somerset West and Taunton
E08000001|Bolton
E08000002|Bury
E08000003|Manchester
E08000004|Oldham
E08000005|Rochdale
E08000006|Salford
E08000007|Stockport
E08000008|Tameside
E08000009|Trafford
E08000010|Wigan
E08000011|Knowsley
E08000012|Liverpool
E08000013|St. Helens
E08000014|Sefton
E08000015|Wirral
E08000016|Barnsley
E08000017|Doncaster
E08000018|Rotherham
E08000019|Sheffield
E08000020|Gateshead
E08000021|Newcastle upon Tyne
E08000022|North Tyneside
E08000023|South Tyneside
E08000024|Sunderland
E08000025|Birmingham
E08000026|Coventry
E08000027|Dudley
E08000028|Sandwell
E08000029|Solihull
E08000030|Walsall
E08000031|Wolverhampton
E08000032|Bradford
E08000033|Calderdale
E08000034|Kirklees
E08000035|Leeds
E08000036|Wakefield
E08000037|Gateshead
E09000001|City of London
E09000002|Barking and Dagenham
E09000003|Barnet
E09000004|Bexley
E09000005|Brent
E09000006|Bromley
E09000007|Camden
E09000008|Croydon
E09000009|Ealing
E09000010|Enfield
E09000011|Greenwich
E09000012|Hackney
E09000013|Hammersmith and Fulham
E09000014|Haringey
E09000015|Harrow
E09000016|Havering
E09000017|Hillingdon
E09000018|Hounslow
E09000019|Islington
E09000020|Kensington and Chelsea
E09000021|Kingston upon Thames
E09000022|Lambeth
E09000023|Lewisham
E09000024|Merton
E09000025|Newham
E09000026|Redbridge
E09000027|Richmond upon Thames
E09000028|Southwark
E09000029|Sutton
E09000030|Tower Hamlets
E09000031|Waltham Forest
E09000032|Wandsworth
E09000033|Westminster
W06000001|Isle of Anglesey|Sir Ynys Môn;Anglesey
W06000002|Gwynedd
W06000003|Conwy
W06000004|Denbighshire|Sir Ddinbych
W06000005|Flintshire|Sir y Fflint
W06000006|Wrexham|Wrecsam
W06000008|Ceredigion
W06000009|Pembrokeshire|Sir Benfro
W06000010|Carmarthenshire|Sir Gaerfyrddin
W06000011|Swansea|Abertawe
W06000012|Neath Port Talbot|Castell-nedd Port Talbot
W06000013|Bridgend|Pen-y-bont ar Ogwr
W06000014|Vale of Glamorgan|Bro Morgannwg
W06000015|Cardiff|Caerdydd
W06000016|Rhondda Cynon Taf|Rhondda Cynon Taff
W06000018|Caerphilly|Caerffili
W06000019|Blaenau Gwent
W06000020|Torfaen|Tor-faen
W06000021|Monmouthshire|Sir Fynwy
W06000022|Newport|Casnewydd
W06000023|Powys
W06000024|Merthyr Tydfil|Merthyr Tudful
S12000005|Clackmannanshire
S12000006|Dumfries and Galloway
S12000008|East Ayrshire
S12000010|East Lothian
S12000011|East Renfrewshire
S12000013|Na h-Eileanan Siar|Comhairle nan Eilean Siar;Western Isles
S12000014|Falkirk
S12000015|Fife
S12000017|Highland
S12000018|Inverclyde
S12000019|Midlothian
S12000020|Moray
S12000021|North Ayrshire
S12000023|Orkney Islands|Orkney
S12000024|Perth and Kinross
S12000026|Scottish Borders
S12000027|Shetland Islands|Shetland
S12000028|South Ayrshire
S12000029|South Lanarkshire
S12000030|Stirling
S12000033|Aberdeen City
S12000034|Aberdeenshire
S12000035|Argyll and Bute
S12000036|City of Edinburgh|Edinburgh
S12000038|Renfrewshire
S12000039|West Dunbartonshire
S12000040|West Lothian
S12000041|Angus
S12000042|Dundee City
S12000044|North Lanarkshire
S12000045|East Dunbartonshire
S12000046|Glasgow City
S12000047|Fife
S12000048|Perth and Kinross
S12000049|Glasgow City
S12000050|North Lanarkshire
N09000001|Antrim and Newtownabbey
N09000002|Armagh City, Banbridge and Craigavon
N09000003|Belfast
N09000004|Causeway Coast and Glens
N09000005|Derry City and Strabane
N09000006|Fermanagh and Omagh
N09000007|Lisburn and Castlereagh
N09000008|Mid and East Antrim
N09000009|Mid Ulster
N09000010|Newry, Mourne and Down
N09000011|Ards and North Down|North Down and Ards
"""


@dataclass(frozen=True)
class Reorganisation:
    """Codes that stopped on ``date`` and the code that holds their area from then on."""

    date: _dt.date
    olds: tuple[str, ...]
    new: str
    #: ``merge`` (districts into one authority), ``recode`` (a new code after a boundary change)
    kind: str
    reference: str


_D = _dt.date
#: Every retirement of a local authority code since April 2013, oldest first.
REORGANISATIONS: tuple[Reorganisation, ...] = (
    Reorganisation(_D(2013, 4, 1), ("E06000048",), "E06000057", "recode",
                   "The Gateshead and Northumberland (Boundary Change) Order 2013; ONS Code History Database"),
    Reorganisation(_D(2013, 4, 1), ("E08000020",), "E08000037", "recode",
                   "The Gateshead and Northumberland (Boundary Change) Order 2013; ONS Code History Database"),
    Reorganisation(_D(2013, 4, 1), ("E07000100",), "E07000240", "recode",
                   "The St Albans and Welwyn Hatfield (Boundary Change) Order 2012; ONS Code History Database"),
    Reorganisation(_D(2013, 4, 1), ("E07000104",), "E07000241", "recode",
                   "The St Albans and Welwyn Hatfield (Boundary Change) Order 2012; ONS Code History Database"),
    Reorganisation(_D(2014, 4, 1), ("E07000097",), "E07000242", "recode",
                   "The East Hertfordshire and Stevenage (Boundary Change) Order 2013; ONS Code History Database"),
    Reorganisation(_D(2014, 4, 1), ("E07000101",), "E07000243", "recode",
                   "The East Hertfordshire and Stevenage (Boundary Change) Order 2013; ONS Code History Database"),
    Reorganisation(_D(2018, 2, 1), ("S12000015",), "S12000047", "recode",
                   "Fife / Perth and Kinross boundary change, 2018; ONS Code History Database"),
    Reorganisation(_D(2018, 2, 1), ("S12000024",), "S12000048", "recode",
                   "Fife / Perth and Kinross boundary change, 2018; ONS Code History Database"),
    Reorganisation(_D(2019, 2, 1), ("S12000046",), "S12000049", "recode",
                   "Glasgow City / North Lanarkshire boundary change (Cardowan by Stepps); ONS Code History Database"),
    Reorganisation(_D(2019, 2, 1), ("S12000044",), "S12000050", "recode",
                   "Glasgow City / North Lanarkshire boundary change (Cardowan by Stepps); ONS Code History Database"),
    Reorganisation(_D(2019, 4, 1), ("E06000028", "E06000029", "E07000048"), "E06000058", "merge",
                   "The Bournemouth, Dorset and Poole (Structural Changes) Order 2018"),
    Reorganisation(_D(2019, 4, 1), ("E07000049", "E07000050", "E07000051", "E07000052", "E07000053"),
                   "E06000059", "merge", "The Bournemouth, Dorset and Poole (Structural Changes) Order 2018"),
    Reorganisation(_D(2019, 4, 1), ("E07000205", "E07000206"), "E07000244", "merge",
                   "The East Suffolk (Local Government Changes) Order 2018"),
    Reorganisation(_D(2019, 4, 1), ("E07000201", "E07000204"), "E07000245", "merge",
                   "The West Suffolk (Local Government Changes) Order 2018"),
    Reorganisation(_D(2019, 4, 1), ("E07000190", "E07000191"), "E07000246", "merge",
                   "The Somerset West and Taunton (Local Government Changes) Order 2018"),
    Reorganisation(_D(2020, 4, 1), ("E07000004", "E07000005", "E07000006", "E07000007"), "E06000060", "merge",
                   "The Buckinghamshire (Structural Changes) Order 2019"),
    Reorganisation(_D(2021, 4, 1), ("E07000150", "E07000152", "E07000153", "E07000156"), "E06000061", "merge",
                   "The Northamptonshire (Structural Changes) Order 2020"),
    Reorganisation(_D(2021, 4, 1), ("E07000151", "E07000154", "E07000155"), "E06000062", "merge",
                   "The Northamptonshire (Structural Changes) Order 2020"),
    Reorganisation(_D(2023, 4, 1), ("E07000026", "E07000028", "E07000029"), "E06000063", "merge",
                   "The Cumbria (Structural Changes) Order 2022"),
    Reorganisation(_D(2023, 4, 1), ("E07000027", "E07000030", "E07000031"), "E06000064", "merge",
                   "The Cumbria (Structural Changes) Order 2022"),
    Reorganisation(_D(2023, 4, 1), ("E07000163", "E07000164", "E07000165", "E07000166", "E07000167",
                                    "E07000168", "E07000169"), "E06000065", "merge",
                   "The North Yorkshire (Structural Changes) Order 2022"),
    Reorganisation(_D(2023, 4, 1), ("E07000187", "E07000188", "E07000189", "E07000246"), "E06000066", "merge",
                   "The Somerset (Structural Changes) Order 2022"),
)


@dataclass(frozen=True)
class Authority:
    """A local authority: its GSS code, name, other names, and when its code ended."""

    code: str
    name: str
    aliases: tuple[str, ...]
    #: the first day the code was not in use (None: in use today)
    ended: _dt.date | None
    #: the code that took over its area then
    successor: str | None
    #: the first day it was in use, where that is after April 2013 (None: before)
    began: _dt.date | None


def name_key(name: str) -> str:
    """Return a name for comparison.

    Lower case, ``&`` as ``and``, without a leading ``The``, the ``City of`` / ``County of`` that ONS puts after
    a comma, punctuation or spaces.
    """
    s = str(name).casefold().replace("&", " and ").strip()
    s = _THE.sub("", _CITY_OF.sub("", s))
    return _NOT_WORD.sub("", s)


_CITY_OF = re.compile(r",\s*(city|county) of\s*$")
_THE = re.compile(r"^the\s+")
_NOT_WORD = re.compile(r"[^\w]|_")


@functools.cache
def authorities() -> dict[str, Authority]:
    """Every authority of :data:`_TABLE` by code, with its end and successor."""
    ended = {old: r for r in REORGANISATIONS for old in r.olds}
    began = {r.new: r.date for r in REORGANISATIONS}
    out = {}
    for line in _TABLE.strip().splitlines():
        code, name, *rest = line.split("|")
        r = ended.get(code)
        out[code] = Authority(code, name, tuple(a for a in (rest[0].split(";") if rest else []) if a),
                              r.date if r else None, r.new if r else None, began.get(code))
    return out


@functools.cache
def _by_name() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for a in authorities().values():
        for n in {name_key(x) for x in (a.name, *a.aliases)}:
            found.setdefault(n, []).append(a.code)
    return {k: tuple(v) for k, v in found.items()}


def codes_named(name: str) -> tuple[str, ...]:
    """Return the codes (of any vintage) of the authorities called ``name`` (any spelling)."""
    return _by_name().get(name_key(name), ())


def name_of(code: str) -> str | None:
    """Return the name of the authority with GSS code ``code`` (None: unknown)."""
    a = authorities().get(code)
    return a.name if a else None


def is_named(code: str, name: str) -> bool:
    """Whether ``name`` is a name of the authority ``code``."""
    return code in codes_named(name)


def current(code: str) -> str:
    """Return the code that holds ``code``'s area today: itself, or its successor's successor, and so on."""
    seen = {code}
    a = authorities().get(code)
    while a is not None and a.successor:
        code = a.successor
        if code in seen:  # the table above is acyclic; guard all the same
            break
        seen.add(code)
        a = authorities().get(code)
    return code


def _in_use(a: Authority, when: _dt.date) -> bool:
    return (a.began is None or a.began <= when) and (a.ended is None or when < a.ended)


@dataclass(frozen=True)
class Checked:
    """What :func:`check` made of a row's code and name."""

    code: str
    #: why the code was changed (None: kept as given)
    repaired: str | None = None
    #: why the row cannot be placed (None: it can)
    problem: str | None = None
    #: the code's own name, where the row's name is no authority's (a typing slip)
    name: str | None = None


def check(code: str, name: str | None, when: _dt.date) -> Checked:
    """Return a row's code checked against its name.

    - The name is one of the code's names, or there is no name, or the code is not one this
      vocabulary holds (a synthetic or newer code): the code as given.
    - The name belongs to another authority: that authority's code, when the name is
      unambiguous (one authority of that name, or one in use at ``when``, or several codes of
      the same place over time: the one in use at ``when``, else the latest); otherwise a problem.
    - The name is no authority's name (a typing slip): the code as given, its name from here.
    """
    known = authorities()
    if not name or code not in known or is_named(code, name):
        return Checked(code)
    named = codes_named(name)
    if not named:
        return Checked(code, repaired=f"name {name[:60]!r} is no authority's; kept under the code "
                                      f"({known[code].name})", name=known[code].name)
    choice: str | None = None
    if len(named) == 1:
        choice = named[0]
    else:
        live = [c for c in named if _in_use(known[c], when)]
        if len(live) == 1:
            choice = live[0]
        elif len({current(c) for c in named}) == 1:
            choice = current(named[0])
    if choice is None:
        return Checked(code, problem=f"{code} is {known[code].name}, not {name[:60]}, and "
                                     f"{len(named)} authorities are called {name[:60]}")
    return Checked(choice, repaired=f"{code} is {known[code].name}'s code; the row names {name[:60]}, "
                                    f"so it is {choice}")


def successors_of(codes: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{retired code: today's code}`` for the retired ones among ``codes``."""
    return {c: current(c) for c in codes if current(c) != c}


def reorganisation_of(code: str) -> Reorganisation | None:
    """Return the reorganisation that retired ``code`` (None while it is in use)."""
    return next((r for r in REORGANISATIONS if code in r.olds), None)
