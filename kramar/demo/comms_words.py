"""Texts of the Communication Center's demo: what clients write (by intent and language), what agents answer and
note, chat lines, letters and visits, and the names of unknown senders who become leads.

Plain data, no logic; every list is ordered so a seed always draws the same values. The wording is chosen so the
demo's routing rules (kramar.demo.comms_demo.RULES) match what they should and nothing else: sales texts never
mention invoices, payments, 1C or outages."""

from __future__ import annotations

# (subject, body) per intent and language; {company}, {product}, {qty}, {city}, {month}, {n} are filled in
CLIENT_MAIL = {
    "sales": {
        "uk": [
            ("Запит комерційної пропозиції", "Добрий день!\n\nПросимо надіслати комерційну пропозицію на {product} "
             "для {company}. Орієнтовна кількість — {qty} шт.\n\nДякую."),
            ("Ціни на ліцензії на наступний рік", "Вітаю! Скільки коштуватимуть {qty} ліцензій на наступний рік і чи "
             "буде знижка для постійного клієнта?"),
            ("Демонстрація для нашої команди", "Доброго дня. Хочемо побачити демонстрацію системи для відділу "
             "продажу наступного тижня. Коли вам зручно?"),
            ("Терміни поставки до {city}", "Підкажіть, будь ласка, терміни поставки {product} до {city}. Чи можна "
             "отримати частину вже цього місяця?"),
            ("Продовження договору", "Наш договір закінчується наприкінці місяця. Хочемо продовжити на тих самих "
             "умовах і додати ще {qty} робочих місць."),
            ("Потрібна консультація щодо обладнання", "Добрий день! Обираємо {product} для нового офісу. Чи може ваш "
             "менеджер приїхати і порадити?"),
        ],
        "en": [
            ("Request for a quote", "Hello,\n\ncould you send us a quote for {product} for {company}? We need about "
             "{qty} units.\n\nThanks."),
            ("Licence pricing for next year", "Hi, what would {qty} licences cost next year, and is there a discount "
             "for existing customers?"),
            ("Product demo for our team", "Good morning, we would like a demo for our sales team next week. Which "
             "day suits you?"),
            ("Delivery times", "Could you tell us the delivery time for {product}? Part of the order is needed this "
             "month."),
            ("Contract renewal", "Our contract ends this month. We would like to renew on the same terms and add "
             "{qty} more seats."),
        ],
    },
    "service": {
        "uk": [
            ("Налаштування обміну з 1С", "Добрий день! Допоможіть налаштувати обмін документами з 1С: після "
             "оновлення контрагенти не підтягуються."),
            ("Терміново: сервер не відповідає", "Терміново! З ранку сервер не відповідає, у відділі ніхто не може "
             "працювати. Прошу зателефонувати."),
            ("Заміна картриджа", "Потрібно замінити картридж у принтері на другому поверсі. Коли зможе прийти "
             "майстер?"),
            ("Гарантійний ремонт ноутбука", "Ноутбук, куплений у вас у березні, перестав заряджатися. Як оформити "
             "гарантійний ремонт?"),
            ("Питання щодо оновлення", "Чи потрібно щось робити перед оновленням системи на наступну версію? "
             "Маємо {qty} робочих місць."),
            ("Не працює вхід до системи", "Після зміни пароля у двох працівників не працює вхід. Що перевірити?"),
        ],
        "en": [
            ("1C exchange setup", "Hello, please help us set up the document exchange with 1C: counterparties are "
             "not imported since the update."),
            ("Urgent: the system is down", "Urgent: nobody in our office can log in since this morning. Please "
             "call us."),
            ("Warranty repair", "The laptop we bought from you in March no longer charges. How do we get it "
             "repaired under warranty?"),
            ("Question about the update", "Is there anything to do before updating to the next version? We have "
             "{qty} seats."),
        ],
    },
    "accounting": {
        "uk": [
            ("Рахунок на оплату за {month}", "Добрий день! Надішліть, будь ласка, рахунок на оплату за {month} для "
             "{company}."),
            ("Акт звірки", "Просимо надіслати акт звірки взаєморозрахунків за минулий квартал."),
            ("Оплата не відображається", "Оплатили рахунок №{n} ще в понеділок, але у вашому кабінеті він досі "
             "неоплачений. Перевірте, будь ласка."),
            ("Повернення передоплати", "Просимо повернути передоплату за скасоване замовлення №{n}."),
        ],
        "en": [
            ("Invoice for {month}", "Hello, could you send us the invoice for {month} for {company}?"),
            ("Payment not shown", "We paid invoice {n} on Monday but it still shows as unpaid. Could you check?"),
            ("Reconciliation statement", "Please send the reconciliation statement for last quarter with the "
             "invoice list."),
        ],
    },
}
PRODUCTS = {
    "uk": ["ноутбуки", "сервер", "монітори", "ліцензії «Крамар ERP»", "комутатори", "ДБЖ", "сонячні панелі"],
    "en": ["laptops", "a server", "monitors", "ERP licences", "network switches", "UPS units", "solar panels"],
}
CITIES = ["Львова", "Одеси", "Харкова", "Дніпра", "Вінниці", "Житомира", "Полтави"]
MONTHS = {
    "uk": ["січень", "лютий", "березень", "квітень", "травень", "червень", "липень", "серпень", "вересень",
           "жовтень", "листопад", "грудень"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}

# an agent's second answer, after the client wrote back
AGENT_FOLLOW_UP = {
    "uk": [
        "Дякую за відповідь! Оновлену пропозицію надішлю сьогодні до кінця дня.",
        "Усе зрозуміло, передав інженеру. Він зв'яжеться з вами завтра зранку.",
        "Домовились, чекаємо на вас у четвер о 10:00 у нашому офісі.",
        "Перевірили: усе гаразд, документи надіслали повторно.",
    ],
    "en": [
        "Thank you! I will send the updated quote by the end of today.",
        "Understood, I have passed it to our engineer, who will call you tomorrow morning.",
        "Agreed, see you on Thursday at 10:00 in our office.",
        "We checked: everything is fine, the documents are sent again.",
    ],
}
CLIENT_ANSWER = {
    "uk": [
        "Дякую, отримали. Ще питання: чи можна оплатити частинами?",
        "Добре, чекаємо. Якщо можна, зателефонуйте після обіду.",
        "Дякую! Цей варіант нам підходить, готуйте договір.",
        "Отримали, але в пропозиції не та кількість — потрібно {qty}.",
    ],
    "en": [
        "Thanks, received. One more question: can we pay in instalments?",
        "Fine, we will wait. Please call in the afternoon if possible.",
        "Thank you! This option works for us, please prepare the contract.",
        "Received, but the quantity is wrong: we need {qty}.",
    ],
}
# internal notes; {mention} is a colleague's @username
NOTES = {
    "uk": [
        "{mention} клієнт просить знижку 7 %, погодиш?",
        "Передзвонила, домовились про демонстрацію на четвер.",
        "{mention} глянь, будь ласка, історію оплат цього клієнта.",
        "Клієнт незадоволений термінами, тримаю на контролі.",
        "Надіслала пропозицію ще й на особисту пошту директора.",
    ],
    "en": [
        "{mention} the client asks for a 7 % discount, do you approve?",
        "Called back, demo agreed for Thursday.",
        "{mention} please check this client's payment history.",
        "The client is unhappy about the lead time, keeping an eye on it.",
    ],
}
# a rep's own e-mail, BCC'd to the dropbox
REP_MAIL = {
    "uk": [
        ("Пропозиція за результатами зустрічі", "Добрий день!\n\nДякую за зустріч. Як домовлялись, надсилаю "
         "пропозицію для {company}. Чекаю на ваші коментарі."),
        ("Договір на погодження", "Добрий день! Надсилаю проєкт договору на погодження. Якщо є правки, "
         "позначте їх, будь ласка, у документі."),
        ("Нагадування про зустріч", "Нагадую про нашу зустріч у середу о 15:00. До зустрічі!"),
    ],
    "en": [
        ("Proposal after our meeting", "Hello,\n\nthank you for the meeting. As agreed, here is our proposal for "
         "{company}. I look forward to your comments."),
        ("Contract for review", "Hello, please find the draft contract for review. Mark any changes in the "
         "document."),
    ],
}
CHAT_LINES = {
    "uk": [
        ["Добрий день! Чи є у вас в наявності {product}?", "Потрібно {qty} шт., доставка до {city}."],
        ["Вітаю, хочу уточнити статус замовлення №{n}.", "Обіцяли відвантажити ще вчора."],
        ["Скільки коштує підтримка на рік?"],
        ["Привіт! Як підключити другого користувача?", "Дякую, чекаю."],
    ],
    "en": [
        ["Hi! Do you have {product} in stock?", "We need {qty}, delivered to Kyiv."],
        ["Hello, what is the status of order {n}?"],
        ["How much is a year of support?", "For {qty} users."],
    ],
}
FAX_TEXTS = [
    ("Лист-замовлення №{n}", "Факс, 2 стор.: лист-замовлення №{n} з печаткою підприємства."),
    ("Гарантійний лист", "Факс, 1 стор.: гарантійний лист щодо оплати до кінця місяця."),
    ("Підписаний акт", "Факс, 3 стор.: підписаний акт виконаних робіт."),
]
LETTERS = [
    ("letter", "Претензія щодо поставки", "Лист від клієнта: претензія щодо неповної поставки за накладною "
     "№{n}. Оригінал у канцелярії."),
    ("letter", "Підписаний договір (оригінал)", "Надійшов оригінал підписаного договору, два примірники."),
    ("visit", "Візит: підписання додаткової угоди", "Клієнт приходив до офісу підписати додаткову угоду, "
     "залишив контакти бухгалтера."),
    ("visit", "Візит: повернення обладнання", "Клієнт приніс обладнання на заміну за гарантією."),
]
WEBFORM_MESSAGES = {
    "uk": [
        ("Запит з сайту", "Цікавить впровадження системи для {qty} працівників. Зателефонуйте, будь ласка."),
        ("", "Хочу отримати прайс на {product}."),
        ("Співпраця", "Ми дилер з {city}, пропонуємо співпрацю."),
    ],
    "en": [
        ("Website enquiry", "We are interested in a roll-out for {qty} employees. Please call us."),
        ("", "Please send your price list for {product}."),
    ],
}
CALLBACK_OUTCOMES = {
    "uk": ["Передзвонили, клієнт чекає пропозицію", "Передзвонили, питання вирішено", "Домовились про зустріч"],
    "en": ["Called back, the client waits for a quote", "Called back, solved", "Meeting agreed"],
}
# unknown senders who become leads: (first name, last name, language)
LEAD_NAMES = [
    ("Оксана", "Дяченко", "uk"), ("Тарас", "Ничипорук", "uk"), ("Марта", "Гринчук", "uk"), ("Lukas", "Brandt", "en"),
    ("Віталій", "Кухар", "uk"), ("Emma", "Lindqvist", "en"), ("Зоряна", "Процик", "uk"), ("Андрій", "Палій", "uk"),
]
LEAD_COMPANIES = ["ТОВ «Нова хвиля»", "ФОП Гринчук", "Brandt Logistik GmbH", "ТОВ «Світанок Агро»"]
# reserved domains (RFC 2606): nobody's real mailbox, whatever the demo's outbox does
LEAD_MAIL_DOMAINS = ["example.com", "example.net", "example.org"]
