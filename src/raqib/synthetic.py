"""Training examples written for the project, where the labelled data is thin.

The labelled violent_call positives are mostly Gulf-dialect tweets from one study and threats against women,
so a model trained on them alone learns dialect and offensive tone, not the form of a call to violence.
These templates teach the form: verbs x targets x forms (imperatives, calls to others, first-person threats,
"must be killed"), in MSA and the main dialects, each paired with contrasts that share the words but are not
calls to violence (negation, prohibition, news reports, condemnation, quotation in counter-speech, sport and
joke hyperbole, curses). The same is done for propaganda: claims, eulogies, recruitment and pledges in a
group's voice, against the same events reported or condemned.

Synthetic rows only ever go to the training split; metrics are computed on real data. A challenge suite that
measures generalisation must use verbs, targets and phrasings that are not here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

# (imperative plural, imperative plural + "them", 1st person future MSA, verbal noun) for each verb
VERBS = [
    ("اقتلوا", "اقتلوهم", "سأقتل", "قتل"),
    ("اذبحوا", "اذبحوهم", "سأذبح", "ذبح"),
    ("احرقوا", "احرقوهم", "سأحرق", "حرق"),
    ("اطعنوا", "اطعنوهم", "سأطعن", "طعن"),
    ("فجروا", "فجروهم", "سأفجر", "تفجير"),
    ("اضربوا", "اضربوهم", "سأضرب", "ضرب"),
    ("اسحقوا", "اسحقوهم", "سأسحق", "سحق"),
    ("ادهسوا", "ادهسوهم", "سأدهس", "دهس"),
    ("مزقوا", "مزقوهم", "سأمزق", "تمزيق"),
    ("اقنصوا", "اقنصوهم", "سأقنص", "قنص"),
    ("اسلخوا", "اسلخوهم", "سأسلخ", "سلخ"),
    ("اعتدوا على", "اعتدوا عليهم", "سأعتدي على", "الاعتداء على"),
    ("اهدروا دم", "اهدروا دماءهم", "سأهدر دم", "إهدار دم"),
    ("اسفكوا دماء", "اسفكوا دماءهم", "سأسفك دماء", "سفك دماء"),
    ("سمموا", "سمموهم", "سأسمم", "تسميم"),
    ("اصلبوا", "اصلبوهم", "سأصلب", "صلب"),
    ("خوزقوا", "خوزقوهم", "سأخوزق", "خوزقة"),
    ("اجهزوا على", "اجهزوا عليهم", "سأجهز على", "الإجهاز على"),
    ("هشموا رؤوس", "هشموا رؤوسهم", "سأهشم رؤوس", "تهشيم رؤوس"),
    ("اطحنوا", "اطحنوهم", "سأطحن", "طحن"),
    ("اهجموا على", "اهجموا عليهم", "سأهجم على", "الهجوم على"),
    ("عذبوا", "عذبوهم", "سأعذب", "تعذيب"),
    ("اقتلعوا عيون", "اقتلعوا عيونهم", "سأقتلع عيون", "اقتلاع عيون"),
    ("بتروا أطراف", "بتروا أطرافهم", "سأبتر أطراف", "بتر أطراف"),
    ("جزوا رقاب", "جزوا رقابهم", "سأجز رقاب", "جز رقاب"),
    ("ازهقوا أرواح", "ازهقوا أرواحهم", "سأزهق أرواح", "إزهاق أرواح"),
]
# 1st-person imperfect stems that take an object suffix ("I will kill you"), conjugated per dialect by FUTURE
STEMS = ["قتل", "ذبح", "حرق", "طعن", "فجر", "ضرب", "سحق", "دهس", "مزق", "سلخ", "سمم", "صلب", "عذب", "طحن",
         "خوزق", "قنص", "دفن", "دعس", "جلد", "هشم", "فقع", "دشدش",
         # run 17: more violent verbs for the same frames, so that the verb, not the frame, makes the threat
         "شوه", "رفس", "فشخ", "فلع", "شرمل", "عور", "فرم", "بعج", "خزق", "رشق", "قصف"]
FUTURE = {  # dialect -> (threat frames, negated frames); {s} stem, {o} object suffix
    "msa": (["سأ{s}{o}", "والله لأ{s}ن{o}", "سوف أ{s}{o} بيدي"], ["لن أ{s}{o} مهما فعلت", "لا تخف، لن أ{s}{o}"]),
    "egyptian": (["ه{s}{o}", "والنبي لا{s}{o}", "أنا ه{s}{o} بإيدي"], ["مش ه{s}{o} متخافش", "عمري ما ه{s}{o}"]),
    "gulf": (["ب{s}{o}", "والله لا{s}{o}", "ترى ب{s}{o}"], ["ما راح ا{s}{o} لا تخاف", "مستحيل ا{s}{o} يا خوي"]),
    "levantine": (["رح ا{s}{o}", "بدي ا{s}{o}", "والله لا{s}{o}"], ["ما رح ا{s}{o} ولا تخاف", "ما بدي ا{s}{o} أبدا"]),
    "maghrebi": (["غادي ن{s}{o}", "راني غادي ن{s}{o}", "والله حتى ن{s}{o}"], ["ما غاديش ن{s}{o}", "ما عمري ن{s}{o}"]),
}
# The same stems with things, not people, as their object ("I'll kill time", "I'll slaughter the sacrifice",
# "I'll appeal the ruling"): the policy covers violence against people, so these are negatives
OBJECTS = {
    "قتل": ["الوقت", "الروتين", "الذباب", "البعوض", "الزعيم الأخير في اللعبة"],
    "ذبح": ["الأضحية", "الكبش", "الدجاجة", "العجل للعزومة"],
    "حرق": ["السعرات", "الحطب", "الأوراق القديمة", "الأعشاب اليابسة"],
    "طعن": ["في الحكم", "في القرار", "في نتيجة الانتخابات"],
    "فجر": ["البالونات", "مفاجأة في الحفلة", "طاقاتي في التمرين"],
    "ضرب": ["الرقم القياسي", "البيض للعجينة", "موعد مع الدكتور"],
    "سحق": ["الثوم", "البسكويت للتحلية", "الفريق الخصم في الدوري"],
    "مزق": ["الورقة", "الكرتون", "المسودة الأولى"],
    "سلخ": ["السمكة", "جلد الدجاج"],
    "طحن": ["القهوة", "القمح", "حب الهال"],
    "سمم": ["الفئران", "النمل"],
    "قنص": ["الفرص", "الحمام البري", "العروض في التخفيضات"],
}
# Stems of everyday verbs taking the same object suffix ("I'll thank / hug / drive you"): the threat frames
# of FUTURE, times and names with these are negatives, so the frame, time and address are not what makes a
# threat (run 15 flagged "I'll visit you tomorrow" in every dialect). Not the verbs of the friendly_futures slice
FRIENDLY_STEMS = ["شكر", "حضن", "كرم", "فرح", "سامح", "رافق", "دعم", "وصل", "بوس", "صحي", "ضيف", "نصح",
                  "طمن", "فاجئ", "شجع", "ودع", "حمي", "هني"]
NAMES = ["يا مازن", "يا كريم", "يا أبو خالد", "يا طارق", "يا سلمى"]
ADDRESSES = ["يا خسيس", "يا جبان", "يا سافل", "يا منافق", "يا عميل", "يا زنديق", "يا وسخ", "يا مرتزق", *NAMES]
TIMES = ["بكرة العصر", "قبل الجمعة", "بعد الصلاة", "أول ما أشوفك", "وين ما رحت", "وانت نايم"]
WHEN = [*TIMES, "اذا ما اعتذرت", "اذا لمحتك مرة ثانية", "لو كتبت عني مرة ثانية", "لو فضحتني", ""]
TARGETS = [
    "الشيعة", "النصارى", "اليهود", "الكفار", "المرتدين", "الشرطة", "الجنود", "الصحفيين", "هؤلاء الخونة",
    "أهل القرية", "اللاجئين", "المعلمين", "النساء المتبرجات", "أعداء الله", "عناصر الجيش", "الأجانب",
    "الأكراد", "الصهاينة", "رجال المرور", "الإعلاميين", "الحكام الطغاة",
    "عيال الحرام", "أهل الحارة الثانية", "المثقفين", "البنات اللي يطلعون",
    "العلمانيين", "الأقباط", "الروافض", "السوريين", "الأفارقة", "رجال الدرك", "أنصار الحزب الآخر", "الوزراء",
    "السياسيين", "التجار", "أئمة المساجد", "الفنانين", "الناشطات", "المذيعة", "صاحب المحل", "جيراننا",
]
PLACES = ["الكنيسة", "السوق", "المعبد", "مركز الشرطة", "السفارة", "الحسينية", "المدرسة", "الملعب",
          "المصرف", "الكلية", "القنصلية", "المطار", "الفندق", "المقهى", "النادي"]
CALLERS = ["يا شباب", "يا إخوة", "يا رجال", "يا أسود", "هيا يا مجاهدين", "يا أبطال"]
DIALECT_THREATS = [  # first-person threats against "you" in dialects (Egyptian, Levantine, Gulf, Iraqi, Maghrebi)
    "والله لأقتلك", "هقتلك بإيدي", "راح اذبحك", "بذبحك والله", "رح اقتلك اذا شفتك", "غادي نقتلك",
    "نذبحك ونحرق دارك", "والله لاحرق بيتك عليك", "اقسم بالله لأطعنك", "بجيك واقتلك", "هدبحك يا كلب",
    "راح افجر راسك", "سأقتلك أنت وعائلتك", "دمك حلال وسأسفكه بيدي", "والله لفرمك فرم", "راح اكتلك",
    "اكتلكم كلكم والله", "نذبحوك كيما الخروف",
]
DIALECT_CALLS = [  # calls to others, by dialect
    "لازم ينقتلوا واحد واحد", "يا ربع لازم ينذبحون", "خاصهم يتقتلو كاملين", "هيا نكتلهم قبل لا يهربون",
    "يا عيال جهزوا السكاكين الليلة نرد عليهم", "هيا يا جماعة خلونا نحرق بيوتهم فوق روسهم",
    "يا رجالة محدش يرحم حد فيهم", "يا ولاد نروحلهم بالسلاح بكرة", "يا الخاوة ندخلو عليهم بالسكاكين",
]
# Dialect threats that are idioms rather than a "kill" verb ("I'll drink your blood", "your mother will
# wear black for you"), and calls to others with each dialect's callers, imperatives and weapons: run 14
# showed that Egyptian and Levantine threats are the thinnest once the suite's verbs are held out
DIALECT_IDIOMS = {
    "egyptian": ["هدفنك حي", "هجيب أجلك", "هخلي أمك تلبس عليك الأسود", "هشرب من دمك", "هفتح دماغك بالشومة",
                 "هدخلك القبر بإيدي", "هسيح دمك على الأسفلت", "هطلع روحك في إيدي", "هغزك بالمطوة",
                 "هدشدش عضمك"],
    "levantine": ["رح ادفنك عايش", "رح قوصك بنص راسك", "رح اشرب من دمك", "رح خلي امك تندب عليك",
                  "رح افتحلك راسك بالبلطة", "رح ابعجك بالسكين", "رح ادعسك بالسيارة", "رح اطلع روحك بإيدي",
                  "رح فوت الخنجر ببطنك", "رح دقلك رقبتك"],
    "gulf": ["بدفنك حي", "بشرب من دمك", "بطلع روحك بيدي", "بدعسك بالسيارة", "بغرز الخنجر في بطنك",
             "بفقع عيونك", "بيتم عيالك", "بخلي أمك تبكي عليك دم", "بفجر راسك بالبندقية"],
    "maghrebi": ["غادي ندفنك حي", "نشرب من دمك", "غادي نضربك بالجنوي", "نديرلك الجنوي فكرشك",
                 "غادي نطرطق ليك راسك", "نحرقلك داركم وانت فيها", "غادي نخلي مك تبكي عليك"],
}
DIALECT_CALLERS = {  # dialect -> (callers, plural imperatives taking a target, endings)
    "egyptian": (["يا رجالة", "يا اخواتي", "يا شباب المنطقة"],
                 ["اقتلوا", "ادبحوا", "احرقوا", "اضربوا بالنار", "اطعنوا", "ادهسوا", "انزلوا بالسنج على"],
                 ["قبل المغرب", "ومحدش يرحم حد فيهم", "قبل ما يهربوا", ""]),
    "levantine": (["يا شباب", "يا خيي", "يا رجال الضيعة"],
                  ["قوصوا", "دبحوا", "احرقوا", "اقتلوا", "ادعسوا", "فرموا", "بعجوا"],
                  ["هلأ", "وما ترحموا حدا", "قبل ما يفلوا", ""]),
    "gulf": (["يا رجاجيل", "يا شباب", "يا ربعي"],
             ["اذبحوا", "اقتلوا", "احرقوا", "اطعنوا", "ادعسوا", "فجروا"],
             ["اليوم قبل بكرة", "لا ترحمونهم", "قبل لا يشردون", ""]),
    "maghrebi": (["يا الدراري", "يا شباب", "يا رجال الحي"],
                 ["قتلو", "ذبحو", "حرقو", "ضربو بالجنوي", "طعنو"],
                 ["هاد الليلة", "بلا رحمة", "قبل ما يهربو", ""]),
}
SUITE_VERBS = ("موت", "كسر", "خلص", "صف[يى]", "ولع", "نزف")
"""Verb roots (regular expressions on normalised text) the challenge suite's threats are phrased with:
kill, break, finish off, liquidate, set alight, bleed. No template here uses them, in any sense, so the suite
measures threats phrased with verbs the model never saw (tests/test_challenge.py). Run 12's templates used
all six."""
NEGATED = [
    "لن أقتل أحدا مهما حصل", "ما راح أذبح أحد، أنا ضد العنف", "لا تقتلوا الأبرياء", "لا تحرقوا البيوت",
    "لن نؤذي أحدا", "ما بأذي أحد والله", "لا أريد أن أضرب أحدا", "لا تعتدوا على {target}",
    "لا تخاف ما حدا رح يأذيك", "والله ما بمد إيدي على حدا", "لا تقتلوا أحدا باسم الدين",
    "احنا مش بتوع عنف", "ما نبي دم، نبي حقنا بالقانون", "ما تضربوش حد يا ولاد",
    "لن {imp_first} {target} ولا غيرهم، فالقانون هو الحكم", "لا أحد يحق له {noun} {target}",
]
REPORTS = [
    "قتل مسلحون {n} أشخاص في هجوم على {place} أمس", "أحرق مجهولون {place} في ساعة متأخرة من الليل",
    "أعلنت الشرطة مقتل {n} من {target} في انفجار استهدف {place}", "ذكرت مصادر أمنية أن انتحاريا فجر نفسه قرب {place}",
    "أصيب {n} أشخاص بعد أن دهست سيارة المارة قرب {place}", "اعتقلت السلطات رجلا طعن {n} أشخاص قرب {place}",
]
CONDEMN = [
    "ندين بشدة الدعوات إلى {noun} {target}", "من يدعو إلى {noun} {target} مجرم ويجب محاسبته",
    "التحريض على {noun} {target} جريمة لا تغتفر", "نرفض خطاب الكراهية الذي يدعو إلى {noun} {target}",
    "لا يجوز {noun} {target} ولا الاعتداء عليهم", "كتب أحدهم '{imp} {target}' وهذا كلام مرفوض ويجب الإبلاغ عنه",
    "من يقول '{imp} {target}' يحرض على جريمة", "هذا الحساب يدعو إلى {noun} {target}، بلغوا عنه",
    "شعار '{imp} {target}' عار على من يردده",
    "هل يعقل أن يطالب أحد ب{noun} {target}؟ هذا جنون", "حكمت المحكمة على رجل دعا إلى {noun} {target} بالسجن",
    "المنشور الذي يقول '{imp} {target}' تم حذفه والحمد لله", "نحن ضد {noun} {target} وضد كل عنف",
]
HYPERBOLE = [
    "الفريق ذبح خصمه بخماسية نظيفة", "ميسي قتل المباراة في الدقيقة الأخيرة", "قتلتني من الضحك هههه",
    "سأقتل هذا الواجب الليلة وأنام", "الحر اليوم يذبح", "المدرب فجر مفاجأة في التشكيلة", "ضربنا البيتزا ضرب",
    "هالأغنية تقتل من جمالها", "المنتخب سحق منافسه", "ذبحتني الامتحانات",
    "ذبحنا الحر اليوم", "الامتحان قتلني", "الفريق مزق شباك الخصم", "هاجم المهاجم المرمى بقوة",
]
CURSES = [
    "الله ينتقم منك يا ظالم", "الله يحرقك بنار جهنم", "حسبي الله ونعم الوكيل فيكم", "الله لا يوفقك",
    "الله ياخذك ويريحنا منك", "ربي ينتقم من كل ظالم",
    "عسى ربي يهلكك", "الله يشل يدك يا ظالم", "يارب تاخذ حقي منهم",
]
GROUP = ["الدولة الإسلامية", "دولة الخلافة", "جنود الخلافة", "المجاهدين في ولاية سيناء", "إخوانكم في الشام",
         "جبهة النصرة", "ولاية غرب إفريقية"]
PROP = [
    "بفضل الله تمكن جنود {group} من تفجير {place} وقتل العشرات من {target}",
    "تقبل الله إخواننا الشهداء الذين نفذوا الغزوة المباركة على {place}",
    "يا شباب الإسلام انفروا إلى أرض الخلافة ولا تتخلفوا عن ركب {group}",
    "نجدد البيعة لأمير المؤمنين على السمع والطاعة في المنشط والمكره",
    "{group} باقية وتتمدد رغم أنف {target}",
    "هنيئا للاستشهادي البطل الذي أثخن في {target} نسأل الله أن يتقبله",
    "اللهم انصر {group} وثبت أقدام المجاهدين",
    "أسود {group} يدكون حصون {target} ولله الحمد والمنة",
    "نبشركم بهلاك العشرات من {target} على أيدي جنود {group}",
    "انضموا إلى صفوف {group} يا أحفاد الصحابة فالجنة تحت ظلال السيوف",
    "تقبل الله شهداء {group} في غزوة {place} المباركة",
    "حفظ الله أمير {group} وسدد رميه",
]
PROP_CALLS = [  # calls to kill in a group's voice: both labels (the policy lets a post be both)
    "يا جنود {group} {imp} {target} في كل مكان ولا تأخذكم بهم رأفة",
    "أيها الموحدون {imp} {target} كما أمركم أمراء {group}",
    "على كل من بايع {group} أن يبدأ ب{noun} {target} في بلده",
    "لبيك يا أمير المؤمنين، سنمضي في {noun} {target} حتى لا يبقى منهم أحد",
    "إلى الذئاب المنفردة من أنصار {group}: {imp} {target} بما تملكون من سلاح",
    "يا أسود {group} الثأر الثأر، {imp} {target} في {place}",
]
PROP_NEWS = [
    "أعلن تنظيم داعش مسؤوليته عن تفجير {place} بحسب وكالة الأنباء، وأدانت الحكومة الهجوم",
    "قتل {n} من عناصر تنظيم داعش في غارة جوية قرب {place}",
    "يحذر خبراء من أن التنظيم يستغل منصات التواصل لتجنيد الشباب",
    "ندين جرائم داعش بحق {target} ونقف مع الضحايا",
    "حكمت المحكمة بالسجن على متهم بالانتماء إلى تنظيم الدولة",
    "الخلافة المزعومة سقطت والتنظيم الإرهابي لا يمثل الإسلام",
    "قال محللون إن {group} فقدت كثيرا من قوتها بعد مقتل قادتها",
    "أدانت الحكومة هجوما تبنته {group} على {place} وأسفر عن {n} قتلى",
    "تقرير: كيف تستخدم {group} الإنترنت في التجنيد والدعاية",
    "أعلن الجيش مقتل قيادي في {group} خلال عملية أمنية",
]


def _fill(template: str, rng: random.Random, verb: tuple[str, str, str, str] | None = None) -> str:
    v = verb or rng.choice(VERBS)
    return template.format(
        target=rng.choice(TARGETS), place=rng.choice(PLACES), n=rng.randint(2, 40), group=rng.choice(GROUP),
        noun=v[3], imp=v[0], imp_first="أ" + v[2].removeprefix("سأ"),
    )


def _first_person(rng: random.Random, *, negated: bool) -> str:
    """A dialect threat (or its negation) built from a stem: "I will burn you", "I won't burn you"."""
    threats, negations = FUTURE[rng.choice(list(FUTURE))]
    plural = rng.random() < 0.3
    text = rng.choice(negations if negated else threats).format(s=rng.choice(STEMS), o="كم" if plural else "ك")
    if negated:
        return text
    when = rng.choice(WHEN[-1:] if plural else WHEN)  # the conditions address one person
    return " ".join(part for part in (text, when, "" if plural else rng.choice(["", *ADDRESSES])) if part)


def _friendly_future(rng: random.Random) -> str:
    """A threat's frame and time around an everyday verb: "I'll hug you after prayers, Karim".

    Addressed by name only: "I'll pamper you, coward" reads as an ironic threat."""
    threats, _ = FUTURE[rng.choice(list(FUTURE))]
    text = rng.choice(threats).format(s=rng.choice(FRIENDLY_STEMS), o=rng.choice(["ك", "ك", "كم"]))
    return " ".join(part for part in (text, rng.choice(TIMES), rng.choice(["", *NAMES])) if part)


def _dialect_idiom(rng: random.Random) -> str:
    """An idiomatic dialect threat against one person, with an optional time or condition and address."""
    text = rng.choice(DIALECT_IDIOMS[rng.choice(list(DIALECT_IDIOMS))])
    return " ".join(part for part in (text, rng.choice(WHEN), rng.choice(["", *ADDRESSES])) if part)


def _dialect_call(rng: random.Random) -> str:
    """A call to others in one dialect: caller, imperative, target, ending."""
    callers, imperatives, endings = DIALECT_CALLERS[rng.choice(list(DIALECT_CALLERS))]
    parts = (rng.choice(callers), rng.choice(imperatives), rng.choice(TARGETS), rng.choice(endings))
    return " ".join(part for part in parts if part)


def _first_person_object(rng: random.Random) -> str:
    """A first-person frame with a thing as the object: the verb and the voice of a threat, and no victim."""
    threats, _ = FUTURE[rng.choice(list(FUTURE))]
    stem, objects = rng.choice(list(OBJECTS.items()))
    return f"{rng.choice(threats).format(s=stem, o='')} {rng.choice(objects)}"


Maker = tuple[Callable[[], str], int, int, str]
"""A row maker: the text it writes, its violent_call and propaganda labels, and its form (the row's source)."""


def generate(n_per_form: int = 120, *, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Labelled rows ``{text, violent_call, propaganda, source}`` from the templates above."""
    rng = random.Random(seed)
    makers: list[Maker] = [
        (lambda: f"{rng.choice(VERBS)[0]} {rng.choice(TARGETS)}", 1, 0, "imperative"),
        (lambda: f"{rng.choice(CALLERS)} {rng.choice(VERBS)[1]} ولا ترحموهم", 1, 0, "call"),
        (lambda: f"{rng.choice(CALLERS)} {rng.choice(VERBS)[0]} {rng.choice(TARGETS)} في {rng.choice(PLACES)}", 1, 0, "call"),
        (lambda: f"{rng.choice(VERBS)[2]} كل {rng.choice(TARGETS)} الذين أراهم", 1, 0, "first_person"),
        (lambda: f"يجب {rng.choice(VERBS)[3]} {rng.choice(TARGETS)} جميعا", 1, 0, "must"),
        (lambda: rng.choice(DIALECT_THREATS), 1, 0, "dialect_threat"),
        (lambda: rng.choice(DIALECT_CALLS), 1, 0, "dialect_call"),
        (lambda: f"{rng.choice(DIALECT_CALLS)} {rng.choice(TARGETS)}", 1, 0, "dialect_call"),
        (lambda: f"{rng.choice(TARGETS)} دمهم حلال {rng.choice(CALLERS)}", 1, 0, "must"),
        (lambda: f"لا تتركوا واحدا من {rng.choice(TARGETS)} حيا", 1, 0, "call"),
        (lambda: f"إذا رأيتك مرة أخرى {rng.choice(DIALECT_THREATS)}", 1, 0, "conditional"),
        # listed twice: twice the rows, from the widest frames
        (lambda: _first_person(rng, negated=False), 1, 0, "dialect_threat"),
        (lambda: _first_person(rng, negated=False), 1, 0, "dialect_threat"),
        (lambda: f"{rng.choice(DIALECT_THREATS)} {rng.choice(ADDRESSES)}", 1, 0, "dialect_threat"),
        (lambda: _dialect_idiom(rng), 1, 0, "dialect_threat"),
        (lambda: _dialect_call(rng), 1, 0, "dialect_call"),
        (lambda: f"أقسم بالله {rng.choice(VERBS)[2]} {rng.choice(TARGETS)} واحدا واحدا", 1, 0, "oath"),
        (lambda: f"إن لم يرحل {rng.choice(TARGETS)} ف{rng.choice(VERBS)[2]} كل من أجده منهم", 1, 0, "conditional"),
        (lambda: f"الحل الوحيد هو {rng.choice(VERBS)[3]} {rng.choice(TARGETS)}، {rng.choice(CALLERS)}", 1, 0, "must"),
        (lambda: f"اذهبوا إلى {rng.choice(PLACES)} و{rng.choice(VERBS)[1]} جميعا", 1, 0, "place"),
        # listed twice: twice the rows, from the widest frames
        (lambda: _first_person(rng, negated=True), 0, 0, "negated"),
        (lambda: _first_person(rng, negated=True), 0, 0, "negated"),
        (lambda: _fill(rng.choice(CONDEMN), rng), 0, 0, "condemnation"),
        (lambda: f"هددني شخص وقال '{_first_person(rng, negated=False)}' فبلغت عنه الشرطة", 0, 0, "report"),
        (lambda: f"هددني شخص وقال '{_dialect_idiom(rng)}' فبلغت عنه الشرطة", 0, 0, "report"),
        (lambda: _fill(rng.choice(NEGATED), rng), 0, 0, "negated"),
        (lambda: _fill(rng.choice(REPORTS), rng), 0, 0, "report"),
        (lambda: _fill(rng.choice(CONDEMN), rng), 0, 0, "condemnation"),
        (lambda: rng.choice(HYPERBOLE), 0, 0, "hyperbole"),
        # listed twice: twice the rows, from the widest frames
        (lambda: _first_person_object(rng), 0, 0, "object"),
        (lambda: _first_person_object(rng), 0, 0, "object"),
        # listed twice, like the threats in the same frames
        (lambda: _friendly_future(rng), 0, 0, "friendly"),
        (lambda: _friendly_future(rng), 0, 0, "friendly"),
        (lambda: rng.choice(CURSES), 0, 0, "curse"),
        (lambda: _fill(rng.choice(PROP), rng), 0, 1, "propaganda"),
        (lambda: _fill(rng.choice(PROP_CALLS), rng), 1, 1, "propaganda_call"),
        (lambda: _fill(rng.choice(PROP_NEWS), rng), 0, 0, "propaganda_news"),
    ]
    return _distinct_rows(makers, n_per_form)


def _distinct_rows(makers: list[Maker], n_per_form: int) -> Iterator[dict[str, Any]]:
    """Up to n_per_form rows from each (make, violent_call, propaganda, form), no text twice across makers."""
    seen: set[str] = set()
    for make, violent, propaganda, form in makers:
        made = 0
        for _ in range(n_per_form * 3):  # a few tries per slot: small template sets repeat themselves
            text = make()
            if text in seen:
                continue
            seen.add(text)
            made += 1
            yield {"text": text, "violent_call": violent, "propaganda": propaganda, "source": f"synthetic_{form}"}
            if made >= n_per_form:
                break


# Run 20 ("threat_forms" recipe): the forms the shipped model misses most on the suite are "must be killed"
# (6 of 16), conditional threats (5 of 15) and oaths (8 of 16), and calls of the "whoever sees one, kill him"
# kind; the templates above write the first only in MSA and the others in one or two fixed frames. These frames
# write each form in every dialect, around the same verb stems, with contrasts in the same frames. Phrasings are
# the project's own and share no three-word sequence with the suite's threats (tests/test_challenge.py).
PASSIVE_STEMS = ["قتل", "ذبح", "حرق", "طعن", "ضرب", "سحق", "دهس", "سلخ", "سمم", "صلب", "عذب", "دفن", "جلد",
                 "رشق", "فرم", "شوه", "مزق", "قصف"]
MUST = {  # dialect -> frames for "{t} must be killed": {t} people, {p} passive plural, {n} verbal noun
    "msa": ["{t} ينبغي أن ي{p}وا جميعا", "جزاء {t} هو ال{n}", "لن يهدأ لنا بال حتى ي{p} آخر واحد من {t}"],
    "egyptian": ["{t} لازم يت{p}وا كلهم", "{t} ملهمش غير ال{n}", "محدش يسيب {t} غير لما يت{p}وا"],
    "levantine": ["{t} لازم ين{p}وا كلهن", "{t} بدهن {n} وبس", "ما بيرتاح البلد إلا لما ين{p}وا {t}"],
    "gulf": ["{t} لازم ين{p}ون كلهم", "{t} دواهم ال{n}", "ما يرتاح البلد إلين ين{p}ون {t}"],
    "maghrebi": ["{t} خاصهم يت{p}و كاملين", "{t} دواهم غير ال{n}", "ما نرتاحو حتى يت{p}و {t}"],
}
NOUNS = ["قتل", "ذبح", "حرق", "سحق", "دهس", "سلخ", "صلب", "تعذيب", "دفن", "جلد", "تمزيق", "سفك"]
CONDITIONS = {  # dialect -> conditions that come before a first-person threat ("if you come near my house, ...")
    "msa": ["إن اقتربت من أسرتي", "إذا لم تغادر الحي", "إن نشرت صوري مرة أخرى"],
    "egyptian": ["لو جيت ناحية بيتنا", "لو لمست بنتي", "لو شفت وشك في الشارع"],
    "levantine": ["إذا بتقرب من بنتي", "إذا بتحكي عني كلمة", "إذا ما بتبعد عنا"],
    "gulf": ["لو شفتك حول بيتنا", "إذا ما رجعت حقي", "لو كلمت بنت عمي"],
    "maghrebi": ["إلا جيتي حدا دارنا", "كان ما عطيتنيش حقي", "إلا قربتي لبنتي"],
}
KIND_CONDITIONS = {  # the same place in the sentence, a friendly condition ("if you pass the exam, ...")
    "msa": ["إن نجحت هذا العام", "إذا زرتنا في العيد"],
    "egyptian": ["لو نجحت السنة دي", "لو جيت الفرح"],
    "levantine": ["إذا بتنجح هالسنة", "إذا بتزورنا بالعيد"],
    "gulf": ["لو نجحت هالسنة", "إذا زرتنا في العيد"],
    "maghrebi": ["إلا نجحتي هاد العام", "إلا جيتي للعرس"],
}
OATHS = {  # dialect -> oath openers, before a first-person frame of FUTURE that carries no oath of its own
    "msa": ["قسما بالله", "أقسم برب الكعبة", "أقسم بعزة الله"],
    "egyptian": ["عليا الطلاق", "وحق ربنا", "قسما بالله"],
    "levantine": ["وحياة ربي", "وشرفي", "قسما بالله"],
    "gulf": ["يمين بالله", "وحق من رفع السما", "قسم بالله"],
    "maghrebi": ["وحق ربي", "نحلف بالله", "بالله عليا"],
}
WHOEVER = {  # dialect -> "whoever finds one of {t}, let him {verb} him": {t} people, {s} stem
    "msa": ["من وجد أحدا من {t} فلي{s}ه", "كل من يصادف واحدا من {t} فلي{s}ه دون تردد"],
    "egyptian": ["أي حد يلمح واحد من {t} ي{s}ه", "كل واحد فيكم يقفش واحد من {t} ي{s}ه"],
    "levantine": ["كل مين بيلاقي حدا من {t} ي{s}ه", "أي واحد بيمسك حدا من {t} ي{s}ه"],
    "gulf": ["أي واحد يلقى واحد من {t} ي{s}ه", "كل من يصيد واحد من {t} ي{s}ه"],
    "maghrebi": ["اللي لقا شي واحد من {t} ي{s}و", "كل واحد يشد شي واحد من {t} ي{s}و"],
}
# Contrasts in the same frames: nobody may touch them; a "must be killed" quoted in order to reject it
MUST_REJECTED = [
    "{t} ما لازم حدا يأذيهم، الخلاف بالكلام", "محدش ليه حق يمد إيده على {t}", "لا يجوز المساس ب{t} بأي حال",
    "اللي بيقول إن {t} لازم يت{p}وا ده مجرم وبنبلغ عنه", "من يكتب أن {t} ينبغي أن ي{p}وا يحرض على جريمة",
    "شفت تعليق يقول '{t} لازم ين{p}ون' وهذا كلام مريض", "ما حدا بيقول إنو {t} لازم ين{p}وا إلا الحاقد",
]

# Run 21: run 20's "must" frames taught "must" as a sign of violence and it flagged more prohibitions; these
# contrasts forbid violence in every dialect around the same stems, and use "we must" about things and games
PROHIBITIONS = {  # dialect -> "do not {verb} {t}": {s} stem, {t} people
    "msa": ["لا ت{s}وا {t} مهما اختلفتم معهم", "إياكم أن ت{s}وا أحدا من {t}، فالعنف جريمة"],
    "egyptian": ["ما ت{s}وش {t} يا جماعة، احنا مش كده", "بلاش ت{s}وا حد من {t}، سيبوها للقانون"],
    "levantine": ["لا ت{s}وا {t} يا جماعة، خلوها للقانون", "ما بدنا حدا ي{s} حدا من {t}"],
    "gulf": ["لا ت{s}ون {t} ترى الدم ما يجيب إلا الدم", "محد فيكم ي{s} أحد من {t}، الشرع بيننا"],
    "maghrebi": ["ما ت{s}وش {t}، راه حرام", "بلاش ت{s}و شي واحد من {t}، خليوها للعدالة"],
}
MUST_THINGS = ["لازم ن{s} {o} الليلة", "خاصنا ن{s} {o} قبل العيد", "بدنا ن{s} {o} بكرة", "لازم ن{s} {o} قبل الضيوف"]
GAME_FOES = ["عصابة الروبوتات", "جيش الأعداء في الجيم", "الفريق الثاني في الببجي", "التنين في آخر مرحلة"]
GAME_STEMS = ["قتل", "ذبح", "حرق", "فجر", "سحق", "قنص"]


def _threat_frame(rng: random.Random, dialect: str, stem: str) -> str:
    """One of the dialect's first-person frames of FUTURE without an oath of its own, against "you"."""
    frames = [f for f in FUTURE[dialect][0] if not f.startswith(("والله", "والنبي"))]
    return rng.choice(frames).format(s=stem, o="ك")


def generate_forms(n_per_form: int = 120, *, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Runs 20 and 21's rows: each threat form above in every dialect, and its contrasts in the same frames.

    Run 20 was trained without the prohibitions and "must" about things (commit d09ed9f)."""
    rng = random.Random(seed)
    dialects = list(FUTURE)

    def must() -> str:
        d = rng.choice(dialects)
        text = rng.choice(MUST[d]).format(t=rng.choice(TARGETS), p=rng.choice(PASSIVE_STEMS), n=rng.choice(NOUNS))
        ending = rng.choice(["", *DIALECT_CALLERS.get(d, (CALLERS,))[0]])
        return f"{text}، {ending}" if ending else text

    def conditional(kind: bool) -> str:
        d = rng.choice(dialects)
        conditions = KIND_CONDITIONS if kind else CONDITIONS
        stem = rng.choice(FRIENDLY_STEMS if kind else STEMS)
        return f"{rng.choice(conditions[d])} {_threat_frame(rng, d, stem)}"

    def oath(kind: bool) -> str:
        d = rng.choice(dialects)
        stem = rng.choice(FRIENDLY_STEMS if kind else STEMS)
        return f"{rng.choice(OATHS[d])} {_threat_frame(rng, d, stem)} {rng.choice(['', *TIMES])}".strip()

    def whoever(kind: bool) -> str:
        d = rng.choice(dialects)
        return rng.choice(WHOEVER[d]).format(t=rng.choice(TARGETS), s=rng.choice(FRIENDLY_STEMS if kind else STEMS))

    def rejected() -> str:
        return rng.choice(MUST_REJECTED).format(t=rng.choice(TARGETS), p=rng.choice(PASSIVE_STEMS))

    def prohibition() -> str:
        frames = PROHIBITIONS[rng.choice(dialects)]
        return rng.choice(frames).format(s=rng.choice(STEMS), t=rng.choice(TARGETS))

    def must_thing() -> str:
        if rng.random() < 0.5:
            stem, objects = rng.choice(list(OBJECTS.items()))
            return rng.choice(MUST_THINGS).format(s=stem, o=rng.choice(objects))
        return rng.choice(MUST_THINGS).format(s=rng.choice(GAME_STEMS), o=rng.choice(GAME_FOES))

    makers: list[Maker] = [
        (must, 1, 0, "must"), (must, 1, 0, "must"),
        (lambda: conditional(False), 1, 0, "conditional"), (lambda: oath(False), 1, 0, "oath"),
        (lambda: whoever(False), 1, 0, "whoever"),
        (rejected, 0, 0, "must_rejected"), (lambda: conditional(True), 0, 0, "friendly"),
        (lambda: oath(True), 0, 0, "friendly"), (lambda: whoever(True), 0, 0, "friendly"),
        (prohibition, 0, 0, "prohibition"), (must_thing, 0, 0, "object"),
    ]
    return _distinct_rows(makers, n_per_form)
