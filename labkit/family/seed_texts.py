"""The seed chapter's passage in five translations, plus the course's English rendering.

The course's source chapter ("Section 2: Qwen family fundamentals") exists as five machine
translations (metadata ``source_file: Module02/02.QwenFamily.md``, CO-OP Translator), in two
editions.  Their first level-2 sections run in parallel in every translation, so the same
passage -- from "Introduction" to the end of "Qwen design principles" (level-2 headings 1 to 6,
:data:`labkit.family.tokens.SEED_SECTIONS`) -- can be compared language by language.

``SEED_EXCERPTS[code]`` is :func:`labkit.family.tokens.seed_prose` of that passage: markdown marks,
links and list markers removed, words untouched (machine-translation slips included, e.g. the
Persian text lacks the zero-width non-joiners of standard orthography).

``SEED_EXCERPTS["en"]`` is not from the seed: it is the course authors' own English rendering
of the same passage, written so the other five can be compared with English.

The seed files are not part of the repository, so the excerpts carry their own proof:

* ``SEED_SHA256[code]``: the SHA-256 of each excerpt (UTF-8) as extracted; ``tests/family/test_tokens.py``
  checks it on every run, so an edit to an excerpt (an editor normalising the Persian, a stray
  space) fails the tests;
* ``SEED_FILE_SHA256[code]``: the SHA-256 of the seed file it was extracted from;
* ``python tools/seed_excerpts.py --check DIR`` (for maintainers who hold the seed files) checks the
  files in ``DIR`` against ``SEED_FILE_SHA256`` and re-extracts every excerpt from them.

The course's own outline of the whole chapter is ``docs/source_outline.md``.

``PASSAGE`` is the same dict under the name the lessons use: "the same passage in six languages" (a learner
needs no account of where the translations came from; this docstring and ``docs/source_outline.md`` keep it).

Only the passage is used, not whole files: the two editions differ after it, and their code
fences are broken in translation (an odd number of ```), so "prose" extracted from a whole
file would be part code.

Used by labkit.family.tokens.
"""
from __future__ import annotations

SEED_SOURCE = ("course seed chapter 'Section 2: Qwen family fundamentals' (CO-OP Translator "
               "machine translations of Module02/02.QwenFamily.md), level-2 sections 1-6")
EN_SOURCE = "qwen-labs course text: the course authors' English rendering of the same passage"

# language code -> seed file the passage was extracted from ("" for the course's own text)
SEED_FILES: dict[str, str] = {
    'en': '',
    'he': '000_f637d1eaba6037b7.txt',
    'uk': '001_7e3852b41e25f325.txt',
    'et': '002_cf20a15258f393cb.txt',
    'bg': '003_caca9a5c87f968b0.txt',
    'fa': '004_cc20f879f08ed572.txt',
}

# language code -> SHA-256 of SEED_EXCERPTS[code] (UTF-8) and of the seed file it comes from;
# tools/seed_excerpts.py --check DIR recomputes both from the seed files.
SEED_SHA256: dict[str, str] = {
    'he': '12d32595cb2a4d4207bf84e52bedbc1234ea7742d5e0f56238c7f71eaf81eed6',
    'uk': '1f08f9073c6f5f32fd0dc64bc5150e525131d4b0eca831c2c7aaa1020c6d433c',
    'et': 'a2685d51f3c1e80ec034aeb4006145eaeb15492fc8897d5301114ab9076a6586',
    'bg': '4ba9b88e310854365c57d47bd4481e9b49bc2a0db79988a9116b803b90bdbd44',
    'fa': 'e625ebe76de1b29c330b81c51f9c57407f1606cfb18b1f26c0def1dd538db133',
}
SEED_FILE_SHA256: dict[str, str] = {
    'he': '55c3732ee5cf0a724ee47ab17089946aea1edadd45f8c214fcbf7d51876e0960',
    'uk': '4d57c3c8fe0543b94d0b5466c97893ac755136122c2ab7bb7b3523f1f0573a9d',
    'et': 'bd716bc51191422d28785081e0a9b04d34b1f4128432cebd0fe551068eaf0c71',
    'bg': 'd21a0c5ce9cd000449214aa64cd0814c1aad62928f15704716bc5780fb95b329',
    'fa': '12871e5dac77e3e7a8615cc0e8cdf82aa43088fc8b16d62a324dc058c6ddccf4',
}

SEED_EXCERPTS: dict[str, str] = {
    'en': """\
Introduction

In this tutorial we explore Alibaba's Qwen model family and its core concepts. We look at how the Qwen family evolved, the training methods that make Qwen models effective, the main variants in the family and practical applications in different scenarios.

Learning goals

By the end of this tutorial you will be able to:

Understand the design philosophy and the evolution of Alibaba's Qwen model family
Identify the key innovations that let Qwen models reach high performance at different parameter sizes
Recognise the advantages and limitations of the different Qwen model variants
Apply what you know about Qwen models to choose suitable variants for real-world scenarios

Understanding the modern AI model landscape

The AI landscape has changed considerably, and different organisations take different approaches to developing language models. Some focus on closed proprietary models, while others stress open access and transparency. The traditional approach offers either huge proprietary models reachable only through APIs, or open models that may lag behind in capability.

This paradigm is a challenge for organisations that want powerful AI capabilities while keeping control over their data, costs and deployment flexibility. The traditional approach often forces a choice between cutting-edge performance and practical deployment concerns.

The challenge of accessible, high-quality AI

The need for high-quality, accessible AI keeps growing across scenarios. Think of applications that need flexible deployment options for different organisational needs, cost-effective implementations where API costs can become significant, multilingual capabilities for global use, or specialised expertise in areas such as coding and mathematics.

Key deployment requirements

Modern AI deployments face several fundamental requirements that limit practical applicability:

Accessibility: open access for transparency and customisation
Cost efficiency: reasonable compute requirements for different budgets
Flexibility: different model sizes for different deployment scenarios
Global reach: strong multilingual and cross-cultural capabilities
Specialisation: domain-specific variants for specific use cases

The Qwen model philosophy

The Qwen model family is a comprehensive approach to AI model development that puts open access, multilingual capability and practical deployment first while keeping competitive performance. Qwen models achieve this through a range of model sizes, high-quality training methods and specialised variants for different domains.

The Qwen family spans approaches that offer options across the performance-efficiency spectrum, allowing deployment from mobile devices to enterprise servers while providing meaningful AI capabilities. The goal is to democratise access to high-quality AI while keeping deployment choices flexible.

Core design principles of Qwen

Qwen models are built on a few fundamental principles that set them apart from other language model families:

Open access first: full transparency and availability for research and commercial use
Comprehensive training: training on massive, diverse datasets covering many languages and domains
Scalable architecture: different model sizes to match different compute requirements
Specialised excellence: variants optimised for specific tasks""",
    'he': """\
מבוא

במדריך זה נחקור את משפחת המודלים Qwen של Alibaba ואת עקרונות היסוד שלה. נסקור את ההתפתחות של משפחת Qwen, את שיטות האימון החדשניות שהופכות את מודלי Qwen ליעילים, את הווריאציות המרכזיות במשפחה, ואת היישומים המעשיים בתרחישים שונים.

מטרות למידה

בסיום המדריך, תוכלו:

להבין את פילוסופיית העיצוב וההתפתחות של משפחת המודלים Qwen של Alibaba
לזהות את החדשנויות המרכזיות שמאפשרות למודלי Qwen להשיג ביצועים גבוהים במגוון גדלי פרמטרים
להכיר את היתרונות והמגבלות של וריאציות שונות של מודלי Qwen
ליישם ידע על מודלי Qwen כדי לבחור את הווריאציות המתאימות לתרחישים בעולם האמיתי

הבנת נוף המודלים המודרני של AI

נוף ה-AI התפתח באופן משמעותי, כאשר ארגונים שונים עוסקים בגישות מגוונות לפיתוח מודלים שפתיים. בעוד שחלקם מתמקדים במודלים סגורים וקנייניים, אחרים מדגישים נגישות ושקיפות בקוד פתוח. הגישה המסורתית כוללת מודלים קנייניים עצומים הנגישים רק דרך APIs או מודלים בקוד פתוח שעשויים לפגר מאחור ביכולות.

פרדיגמה זו יוצרת אתגרים עבור ארגונים המחפשים יכולות AI עוצמתיות תוך שמירה על שליטה בנתונים, בעלויות ובגמישות הפריסה. הגישה המסורתית דורשת לעיתים קרובות בחירה בין ביצועים מתקדמים לבין שיקולי פריסה מעשיים.

האתגר של AI איכותי ונגיש

הצורך ב-AI איכותי ונגיש הפך לחשוב יותר ויותר בתרחישים שונים. חשבו על יישומים הדורשים אפשרויות פריסה גמישות לצרכים ארגוניים שונים, יישומים חסכוניים שבהם עלויות API עשויות להיות משמעותיות, יכולות רב-לשוניות ליישומים גלובליים, או מומחיות תחומית מיוחדת בתחומים כמו קידוד ומתמטיקה.

דרישות פריסה מרכזיות

פריסות AI מודרניות מתמודדות עם מספר דרישות יסוד שמגבילות את היישום המעשי:

נגישות: זמינות בקוד פתוח לשקיפות והתאמה אישית
חסכוניות: דרישות חישוב סבירות לתקציבים שונים
גמישות: גדלי מודלים שונים לתרחישי פריסה מגוונים
הגעה גלובלית: יכולות רב-לשוניות וחוצות תרבויות
התמחות: וריאציות תחומיות ספציפיות לשימושים מסוימים

פילוסופיית מודל Qwen

משפחת המודלים Qwen מייצגת גישה מקיפה לפיתוח מודלים AI, תוך מתן עדיפות לנגישות בקוד פתוח, יכולות רב-לשוניות ופריסה מעשית, תוך שמירה על מאפייני ביצועים תחרותיים. מודלי Qwen משיגים זאת באמצעות גדלי מודלים מגוונים, שיטות אימון איכותיות ווריאציות מיוחדות לתחומים שונים.

משפחת Qwen כוללת גישות שונות שנועדו לספק אפשרויות לאורך ספקטרום הביצועים-יעילות, ומאפשרות פריסה ממכשירים ניידים ועד שרתי ארגונים תוך מתן יכולות AI משמעותיות. המטרה היא להנגיש AI איכותי תוך מתן גמישות בבחירות הפריסה.

עקרונות עיצוב מרכזיים של Qwen

מודלי Qwen מבוססים על מספר עקרונות יסוד שמבדילים אותם ממשפחות מודלים שפתיים אחרות:

קוד פתוח תחילה: שקיפות מלאה ונגישות למחקר ולשימוש מסחרי
אימון מקיף: אימון על מערכי נתונים עצומים ומגוונים המכסים שפות ותחומים רבים
ארכיטקטורה ניתנת להרחבה: גדלי מודלים שונים להתאמה לדרישות חישוביות מגוונות
מצוינות תחומית: וריאציות תחומיות ספציפיות המותאמות למשימות מסוימות""",
    'uk': """\
Вступ

У цьому навчальному посібнику ми дослідимо сімейство моделей Qwen від Alibaba та його основні концепції. Ми розглянемо еволюцію сімейства Qwen, інноваційні методи навчання, які роблять моделі Qwen ефективними, ключові варіанти в сімействі та практичні застосування в різних сценаріях.

Цілі навчання

До кінця цього навчального посібника ви зможете:

Зрозуміти філософію дизайну та еволюцію сімейства моделей Qwen від Alibaba
Визначити ключові інновації, які дозволяють моделям Qwen досягати високої продуктивності при різних розмірах параметрів
Розпізнати переваги та обмеження різних варіантів моделей Qwen
Застосувати знання про моделі Qwen для вибору відповідних варіантів для реальних сценаріїв

Розуміння сучасного ландшафту AI моделей

Ландшафт AI значно еволюціонував, і різні організації використовують різні підходи до розробки мовних моделей. Деякі зосереджуються на закритих пропрієтарних моделях, інші наголошують на відкритості та прозорості. Традиційний підхід передбачає або масивні пропрієтарні моделі, доступні лише через API, або відкриті моделі, які можуть поступатися в можливостях.

Ця парадигма створює виклики для організацій, які прагнуть потужних можливостей AI, зберігаючи контроль над своїми даними, витратами та гнучкістю розгортання. Традиційний підхід часто вимагає вибору між передовою продуктивністю та практичними міркуваннями розгортання.

Виклик доступної досконалості AI

Потреба у високоякісному, доступному AI стає дедалі важливішою в різних сценаріях. Розглянемо застосування, які потребують гнучких варіантів розгортання для різних організаційних потреб, економічно ефективних реалізацій, де витрати на API можуть бути значними, багатомовних можливостей для глобальних застосувань або спеціалізованої експертизи в таких областях, як програмування та математика.

Основні вимоги до розгортання

Сучасні розгортання AI стикаються з кількома фундаментальними вимогами, які обмежують практичну застосовність:

Доступність: Відкритий доступ для прозорості та налаштування
Економічна ефективність: Розумні вимоги до обчислювальних ресурсів для різних бюджетів
Гнучкість: Різні розміри моделей для різних сценаріїв розгортання
Глобальне охоплення: Сильні багатомовні та міжкультурні можливості
Спеціалізація: Варіанти для конкретних доменів і завдань

Філософія моделей Qwen

Сімейство моделей Qwen представляє комплексний підхід до розробки AI моделей, який ставить у пріоритет відкритість, багатомовність і практичне розгортання, зберігаючи конкурентоспроможні характеристики продуктивності. Моделі Qwen досягають цього завдяки різноманітним розмірам моделей, високоякісним методам навчання та спеціалізованим варіантам для різних доменів.

Сімейство Qwen охоплює різні підходи, які забезпечують варіанти на спектрі продуктивності та ефективності, дозволяючи розгортання від мобільних пристроїв до серверів підприємств, забезпечуючи значущі можливості AI. Мета — демократизувати доступ до високоякісного AI, забезпечуючи гнучкість у виборі варіантів розгортання.

Основні принципи дизайну Qwen

Моделі Qwen побудовані на кількох фундаментальних принципах, які відрізняють їх від інших сімейств мовних моделей:

Пріоритет відкритості: Повна прозорість і доступність для досліджень та комерційного використання
Комплексне навчання: Навчання на масивних, різноманітних наборах даних, що охоплюють кілька мов і доменів
Масштабована архітектура: Різні розміри моделей для відповідності різним обчислювальним вимогам
Спеціалізована досконалість: Варіанти, оптимізовані для конкретних завдань""",
    'et': """\
Sissejuhatus

Selles juhendis uurime Alibaba Qweni mudelipere ja selle põhikontseptsioone. Käsitleme Qweni pere arengut, uuenduslikke treeningmetoodikaid, mis muudavad Qweni mudelid tõhusaks, pere peamisi variante ja praktilisi rakendusi erinevates stsenaariumides.

Õpieesmärgid

Selle juhendi lõpuks suudate:

Mõista Alibaba Qweni mudelipere disainifilosoofiat ja arengut
Tuvastada peamised uuendused, mis võimaldavad Qweni mudelitel saavutada kõrget jõudlust erinevate parameetrite suuruste juures
Tunnustada erinevate Qweni mudelite variantide eeliseid ja piiranguid
Rakendada teadmisi Qweni mudelitest, et valida sobivaid variante reaalses maailmas kasutamiseks

Kaasaegse tehisintellekti mudelimaastiku mõistmine

Tehisintellekti maastik on oluliselt arenenud, kus erinevad organisatsioonid järgivad erinevaid lähenemisi keelemudelite arendamisel. Kuigi mõned keskenduvad patenteeritud suletud lähtekoodiga mudelitele, rõhutavad teised avatud lähtekoodi kättesaadavust ja läbipaistvust. Traditsiooniline lähenemine hõlmab kas massiivseid patenteeritud mudeleid, mis on kättesaadavad ainult API-de kaudu, või avatud lähtekoodiga mudeleid, mis võivad jääda võimekuselt maha.

See paradigma tekitab väljakutseid organisatsioonidele, kes otsivad võimsaid tehisintellekti võimeid, säilitades samal ajal kontrolli oma andmete, kulude ja juurutuspaindlikkuse üle. Traditsiooniline lähenemine nõuab sageli valikut tipptasemel jõudluse ja praktiliste juurutuskaalutluste vahel.

Kvaliteetse ja kättesaadava tehisintellekti väljakutse

Kvaliteetse ja kättesaadava tehisintellekti vajadus on muutunud üha olulisemaks erinevates stsenaariumides. Mõelge rakendustele, mis vajavad paindlikke juurutusvõimalusi erinevate organisatsiooniliste vajaduste jaoks, kulutõhusaid lahendusi, kus API kulud võivad muutuda märkimisväärseks, mitmekeelset võimekust globaalseks kasutamiseks või spetsialiseeritud valdkonna teadmisi, näiteks kodeerimises ja matemaatikas.

Põhilised juurutusnõuded

Kaasaegsed tehisintellekti juurutused seisavad silmitsi mitmete põhinõuetega, mis piiravad praktilist rakendatavust:

Kättesaadavus: Avatud lähtekoodiga kättesaadavus läbipaistvuse ja kohandamise jaoks
Kulutõhusus: Mõistlikud arvutusnõuded erinevate eelarvete jaoks
Paindlikkus: Erineva suurusega mudelid erinevate juurutusstsenaariumide jaoks
Globaalne ulatus: Tugev mitmekeelne ja kultuuridevaheline võimekus
Spetsialiseerumine: Valdkonnaspetsiifilised variandid konkreetsete kasutusjuhtude jaoks

Qweni mudelite filosoofia

Qweni mudelipere esindab terviklikku lähenemist tehisintellekti mudelite arendamisele, rõhutades avatud lähtekoodi kättesaadavust, mitmekeelset võimekust ja praktilist juurutamist, säilitades samal ajal konkurentsivõimelised jõudlusomadused. Qweni mudelid saavutavad selle mitmekesiste mudelisuuruste, kvaliteetsete treeningmetoodikate ja spetsialiseeritud variantide kaudu erinevate valdkondade jaoks.

Qweni pere hõlmab mitmesuguseid lähenemisi, mis on mõeldud pakkuma valikuid jõudluse ja efektiivsuse spektris, võimaldades juurutamist mobiilseadmetest ettevõtte serveriteni, pakkudes samal ajal tähendusrikkaid tehisintellekti võimeid. Eesmärk on demokratiseerida juurdepääs kvaliteetsele tehisintellektile, pakkudes paindlikkust juurutusvalikutes.

Qweni põhidisaini põhimõtted

Qweni mudelid põhinevad mitmel aluspõhimõttel, mis eristavad neid teistest keelemudeliperedest:

Avatud lähtekood esikohal: Täielik läbipaistvus ja kättesaadavus uurimis- ja ärikasutuseks
Terviklik treening: Treenimine massiivsetel, mitmekesistel andmekogumitel, mis hõlmavad mitmeid keeli ja valdkondi
Mastaabitav arhitektuur: Erineva suurusega mudelid, mis vastavad erinevatele arvutusnõuetele
Spetsialiseeritud tipptase: Valdkonnaspetsiifilised variandid, mis on optimeeritud konkreetsete ülesannete jaoks""",
    'bg': """\
Въведение

В този урок ще разгледаме семейството модели Qwen на Alibaba и неговите основни концепции. Ще обхванем еволюцията на семейството Qwen, иновативните методологии за обучение, които правят моделите Qwen ефективни, ключовите варианти в семейството и практическите приложения в различни сценарии.

Цели на обучението

До края на този урок ще можете:

Да разберете философията на дизайна и еволюцията на семейството модели Qwen на Alibaba
Да идентифицирате ключовите иновации, които позволяват на моделите Qwen да постигат висока производителност при различни размери параметри
Да разпознаете предимствата и ограниченията на различните варианти на моделите Qwen
Да приложите знанията си за моделите Qwen, за да изберете подходящи варианти за реални сценарии

Разбиране на съвременния пейзаж на AI модели

Пейзажът на AI се е развил значително, като различни организации преследват различни подходи към разработката на езикови модели. Докато някои се фокусират върху затворени модели, други акцентират върху достъпността и прозрачността на отворения код. Традиционният подход включва или масивни затворени модели, достъпни само чрез API, или модели с отворен код, които може да изостават в способностите си.

Тази парадигма създава предизвикателства за организациите, които търсят мощни AI възможности, като същевременно запазват контрол върху своите данни, разходи и гъвкавост на внедряване. Традиционният подход често изисква избор между авангардна производителност и практически съображения за внедряване.

Предизвикателството за достъпно AI съвършенство

Необходимостта от висококачествен, достъпен AI става все по-важна в различни сценарии. Помислете за приложения, които изискват гъвкави опции за внедряване за различни организационни нужди, икономически ефективни реализации, където разходите за API могат да станат значителни, многоезични способности за глобални приложения или специализирана експертиза в области като програмиране и математика.

Основни изисквания за внедряване

Съвременните AI внедрения се сблъскват с няколко основни изисквания, които ограничават практическата приложимост:

Достъпност: Наличност с отворен код за прозрачност и персонализация
Икономическа ефективност: Разумни изчислителни изисквания за различни бюджети
Гъвкавост: Различни размери на моделите за различни сценарии на внедряване
Глобален обхват: Силни многоезични и междукултурни способности
Специализация: Варианти, специфични за домейна, за конкретни случаи на употреба

Философията на моделите Qwen

Семейството модели Qwen представлява цялостен подход към разработката на AI модели, като приоритизира достъпността с отворен код, многоезичните способности и практическото внедряване, като същевременно поддържа конкурентни характеристики на производителност. Моделите Qwen постигат това чрез разнообразни размери на моделите, висококачествени методологии за обучение и специализирани варианти за различни домейни.

Семейството Qwen обхваща различни подходи, предназначени да предоставят опции в спектъра на производителност-ефективност, позволявайки внедряване от мобилни устройства до корпоративни сървъри, като същевременно предоставя значими AI възможности. Целта е да се демократизира достъпът до висококачествен AI, като се предоставя гъвкавост при избора на внедряване.

Основни принципи на дизайна на Qwen

Моделите Qwen са изградени върху няколко основни принципа, които ги отличават от други семейства езикови модели:

Първо отворен код: Пълна прозрачност и достъпност за изследвания и търговска употреба
Цялостно обучение: Обучение върху масивни, разнообразни набори от данни, обхващащи множество езици и домейни
Мащабируема архитектура: Различни размери на моделите, съответстващи на различни изчислителни изисквания
Специализирано съвършенство: Варианти, оптимизирани за конкретни задачи""",
    'fa': """\
مقدمه

در این آموزش، خانواده مدلهای Qwen از Alibaba و مفاهیم اساسی آن را بررسی خواهیم کرد. ما به تکامل خانواده Qwen، روشهای نوآورانه آموزش که مدلهای Qwen را مؤثر میسازند، انواع کلیدی در این خانواده و کاربردهای عملی در سناریوهای مختلف خواهیم پرداخت.

اهداف یادگیری

در پایان این آموزش، شما قادر خواهید بود:

فلسفه طراحی و تکامل خانواده مدلهای Qwen از Alibaba را درک کنید
نوآوریهای کلیدی که به مدلهای Qwen امکان دستیابی به عملکرد بالا در اندازههای مختلف پارامتر را میدهند، شناسایی کنید
مزایا و محدودیتهای انواع مختلف مدلهای Qwen را بشناسید
دانش خود از مدلهای Qwen را برای انتخاب انواع مناسب در سناریوهای واقعی به کار ببرید

درک چشمانداز مدرن مدلهای هوش مصنوعی

چشمانداز هوش مصنوعی به طور قابل توجهی تکامل یافته است، و سازمانهای مختلف رویکردهای متفاوتی را برای توسعه مدلهای زبان دنبال میکنند. در حالی که برخی بر مدلهای اختصاصی و بسته تمرکز دارند، دیگران بر دسترسی متنباز و شفافیت تأکید میکنند. رویکرد سنتی شامل مدلهای اختصاصی عظیم است که فقط از طریق APIها قابل دسترسی هستند یا مدلهای متنباز که ممکن است در قابلیتها عقبتر باشند.

این پارادایم چالشهایی را برای سازمانهایی ایجاد میکند که به دنبال قابلیتهای قدرتمند هوش مصنوعی هستند و در عین حال کنترل بر دادهها، هزینهها و انعطافپذیری اجرا را حفظ میکنند. رویکرد معمول اغلب نیازمند انتخاب بین عملکرد پیشرفته و ملاحظات عملی اجرا است.

چالش برتری هوش مصنوعی قابل دسترس

نیاز به هوش مصنوعی با کیفیت بالا و قابل دسترس در سناریوهای مختلف به طور فزایندهای مهم شده است. به کاربردهایی فکر کنید که گزینههای اجرای انعطافپذیر برای نیازهای مختلف سازمانی، پیادهسازیهای مقرونبهصرفه که هزینههای API میتواند قابل توجه باشد، قابلیتهای چندزبانه برای کاربردهای جهانی، یا تخصص دامنهای در زمینههایی مانند کدنویسی و ریاضیات را نیاز دارند.

الزامات کلیدی اجرا

اجرای مدرن هوش مصنوعی با چندین الزام اساسی مواجه است که کاربرد عملی را محدود میکند:

دسترسیپذیری: دسترسی متنباز برای شفافیت و سفارشیسازی
مقرونبهصرفه بودن: نیازهای محاسباتی معقول برای بودجههای مختلف
انعطافپذیری: اندازههای مختلف مدل برای سناریوهای اجرای متفاوت
دسترسی جهانی: قابلیتهای چندزبانه و بینفرهنگی قوی
تخصص: انواع خاص دامنه برای موارد استفاده خاص

فلسفه مدل Qwen

خانواده مدلهای Qwen نمایانگر رویکرد جامعی به توسعه مدلهای هوش مصنوعی است که دسترسی متنباز، قابلیتهای چندزبانه و اجرای عملی را در اولویت قرار میدهد و در عین حال ویژگیهای عملکرد رقابتی را حفظ میکند. مدلهای Qwen این اهداف را از طریق اندازههای متنوع مدل، روشهای آموزش با کیفیت بالا و انواع خاص دامنه برای حوزههای مختلف به دست میآورند.

خانواده Qwen شامل رویکردهای مختلفی است که گزینههایی را در طیف عملکرد-کارایی فراهم میکند، و امکان اجرا از دستگاههای موبایل تا سرورهای سازمانی را فراهم میکند و در عین حال قابلیتهای معنادار هوش مصنوعی را ارائه میدهد. هدف این است که دسترسی به هوش مصنوعی با کیفیت بالا را دموکراتیک کنیم و در عین حال انعطافپذیری در انتخابهای اجرا را فراهم کنیم.

اصول طراحی اصلی Qwen

مدلهای Qwen بر اساس چندین اصل بنیادی ساخته شدهاند که آنها را از خانوادههای دیگر مدلهای زبان متمایز میکند:

اولویت متنباز: شفافیت کامل و دسترسی برای استفاده تحقیقاتی و تجاری
آموزش جامع: آموزش بر روی مجموعه دادههای عظیم و متنوع که شامل چندین زبان و دامنه است
معماری مقیاسپذیر: اندازههای مختلف مدل برای تطابق با نیازهای محاسباتی متفاوت
تخصص بهینهشده: انواع خاص دامنه که برای وظایف خاص بهینه شدهاند""",
}

# The name the lessons use (notebook 01): the same passage about the Qwen family in six languages.
PASSAGE: dict[str, str] = SEED_EXCERPTS
