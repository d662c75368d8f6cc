"""Agency type codes (REGULATIONS.md "Who acts") and regions (ISO 3166-2 via pycountry)."""

from __future__ import annotations

from enum import StrEnum
from functools import cache

import pycountry


class AgencyType(StrEnum):
    """The agency types of REGULATIONS.md; codes used in events, APIs and configuration."""

    POLICE = "police"
    CHILD_RIGHTS_REGIONAL = "child_rights_regional"
    CHILD_RIGHTS_NATIONAL = "child_rights_national"
    GUARDIANSHIP = "guardianship"
    OMBUDSMAN_REGIONAL = "ombudsman_regional"
    OMBUDSMAN_NATIONAL = "ombudsman_national"
    MINORS_COMMISSION = "minors_commission"
    EDUCATION_ORG = "education_org"
    EDUCATION_AUTHORITY = "education_authority"
    LOCAL_EXECUTIVE = "local_executive"
    PSYCH_SUPPORT_CENTRE = "psych_support_centre"
    FAMILY_SUPPORT_CENTRE = "family_support_centre"
    MOBILE_GROUP = "mobile_group"
    CONTACT_CENTRE_111 = "contact_centre_111"
    HEALTHCARE = "healthcare"
    # The regional health department (денсаулық сақтау басқармасы): supervises health
    # organisations; not in the digest's table, it is the first rung of their escalation.
    HEALTH_AUTHORITY = "health_authority"
    EMERGENCY_MEDICAL = "emergency_medical"
    SOCIAL_PROTECTION = "social_protection"
    PROSECUTOR = "prosecutor"
    SHELTER = "shelter"
    CHILD_SUPPORT_CENTRE = "child_support_centre"
    OTHER = "other"


# Names as users say them: Kazakh from Rules 38874, Russian from the Guide (REGULATIONS.md).
AGENCY_TYPE_NAMES: dict[AgencyType, tuple[str, str]] = {
    AgencyType.POLICE: ("ішкі істер органдары", "органы внутренних дел"),
    AgencyType.CHILD_RIGHTS_REGIONAL: (
        "балалардың құқықтарын қорғау жөніндегі өңірлік уәкілетті орган",
        "региональный уполномоченный орган по защите прав детей",
    ),
    AgencyType.CHILD_RIGHTS_NATIONAL: (
        "балалардың құқықтарын қорғау саласындағы уәкілетті орган",
        "Комитет по охране прав детей",
    ),
    AgencyType.GUARDIANSHIP: (
        "қорғаншылық немесе қамқоршылық органы",
        "орган опеки и попечительства",
    ),
    AgencyType.OMBUDSMAN_REGIONAL: (
        "бала құқықтары жөніндегі өңірлік уәкіл",
        "региональный уполномоченный по правам ребенка",
    ),
    AgencyType.OMBUDSMAN_NATIONAL: (
        "Бала құқықтары жөніндегі уәкіл",
        "Уполномоченный по правам ребенка",
    ),
    AgencyType.MINORS_COMMISSION: (
        "кәмелетке толмағандардың істері және олардың құқықтарын қорғау жөніндегі комиссия",
        "комиссия по делам несовершеннолетних и защите их прав",
    ),
    AgencyType.EDUCATION_ORG: ("білім беру ұйымы", "организация образования"),
    AgencyType.EDUCATION_AUTHORITY: ("білім басқармасы органы", "орган управления образования"),
    AgencyType.LOCAL_EXECUTIVE: ("жергілікті атқарушы орган", "местный исполнительный орган"),
    AgencyType.PSYCH_SUPPORT_CENTRE: (
        "психологиялық қолдау орталығы",
        "центр психологической поддержки",
    ),
    AgencyType.FAMILY_SUPPORT_CENTRE: ("отбасын қолдау орталығы", "центр поддержки семьи"),
    AgencyType.MOBILE_GROUP: ("мобильді топ", "мобильная группа"),
    AgencyType.CONTACT_CENTRE_111: ('"111" байланыс орталығы', 'контакт-центр "111"'),
    AgencyType.HEALTHCARE: ("денсаулық сақтау ұйымы", "организация здравоохранения"),
    AgencyType.HEALTH_AUTHORITY: ("денсаулық сақтау басқармасы", "управление здравоохранения"),
    AgencyType.EMERGENCY_MEDICAL: ("жедел медициналық жәрдем", "скорая помощь"),
    AgencyType.SOCIAL_PROTECTION: (
        "халықты әлеуметтік қорғау және жұмыспен қамту органы",
        "орган занятости и социальной защиты",
    ),
    AgencyType.PROSECUTOR: ("прокуратура", "прокуратура"),
    AgencyType.SHELTER: ("уақытша болу және тұру ұйымы", "кризисный центр"),
    AgencyType.CHILD_SUPPORT_CENTRE: (
        "кәмелетке толмағандарды бейімдеу орталығы",
        "центр адаптации несовершеннолетних",
    ),
    AgencyType.OTHER: ("өзге де субъектілер", "другие"),
}


@cache
def regions() -> dict[str, str]:
    """Return Kazakhstan's regions as ISO 3166-2 code -> name, from pycountry."""
    return {region.code: region.name for region in pycountry.subdivisions.get(country_code="KZ")}


def is_region(code: str) -> bool:
    """Tell whether code is a region of Kazakhstan that pycountry knows."""
    return code in regions()
