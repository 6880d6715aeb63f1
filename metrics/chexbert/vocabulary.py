"""The rule labeller's vocabulary: per-observation mention patterns and the negation / uncertainty cues."""

from __future__ import annotations

__all__ = [
    "ABNORMAL_QUALIFIERS",
    "BORDERLINE_QUALIFIERS",
    "ATTRIBUTE_MENTIONS",
    "CLAUSE_BREAKS",
    "MENTIONS",
    "NORMAL_QUALIFIERS",
    "POST_NEGATION",
    "POST_UNCERTAINTY",
    "PRE_NEGATION",
    "PRE_NEGATION_UNCERTAINTY",
    "PRE_UNCERTAINTY",
    "PSEUDO_NEGATION",
    "UNCERTAIN_MENTIONS",
    "UNMENTIONS",
]

# Regular-expression fragments (lower-case text, matched with word boundaries around each alternative).
# A mention names the finding itself; its label comes from the negation / uncertainty cues around it.
MENTIONS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": (
        r"widen(ed|ing) (of the )?(superior )?mediastinum",
        r"mediastin(um|al) (is |are )?widen(ed|ing)",
        r"mediastinal (widening|enlargement)",
        r"(enlarged|widened|prominent) (cardio)?mediastin(um|al (silhouette|contours?))",
    ),
    "Cardiomegaly": (
        r"cardiomegaly",
        r"cardiac (enlargement|hypertrophy)",
        r"enlarge(d|ment of the) (heart|cardiac (silhouette|shadow|size))",
        r"(heart|cardiac silhouette) (is |appears )?(mildly |moderately |markedly |severely )?enlarged",
    ),
    "Lung Lesion": (
        r"(pulmonary |lung )?nodules?",
        r"nodular (opacit(y|ies)|densit(y|ies))",
        r"(lung |pulmonary |hilar |mediastinal |cavitary )?mass(es)?",
        r"cavitary lesions?",
        r"(pulmonary |lung )?(tumou?r|neoplasm|carcinoma|malignan(cy|t))",
        r"(pulmonary |lung )?metasta(sis|ses|tic)",
    ),
    "Lung Opacity": (
        r"opaci(ty|ties|fication|fications|fied)",
        r"infiltrat(e|es|ion|ive)",
        r"air ?-?space (disease|process|opacit(y|ies))",
        r"ground[- ]glass",
        r"increased (interstitial )?(densit(y|ies)|markings)",
        r"(interstitial|reticular|reticulonodular) (markings|pattern|opacit(y|ies)|prominence|changes?)",
        r"reticulation",
        r"(parenchymal |pulmonary |lung )?scar(ring)?",
        r"peribronchial (thickening|cuffing)",
        r"haziness|hazy",
    ),
    "Edema": (
        r"(pulmonary |interstitial |alveolar |perihilar )?edema",
        r"(congestive )?heart failure",
        r"chf",
        r"kerley b? ?lines",
        r"fluid overload",
    ),
    "Consolidation": (r"consolidat(ion|ions|ive|ed)",),
    "Pneumonia": (
        r"(broncho)?pneumonias?",
        r"pneumonitis",
        r"infection|infectious( process)?|infective",
    ),
    "Atelectasis": (
        r"atelecta(sis|ses|tic)",
        r"(lobar |lobe |lung |segmental |subsegmental )collapse",
        r"collapse of (the |a )?([\w-]+ ){0,4}(lobe|lung|segment)",
    ),
    "Pneumothorax": (r"(hydro)?pneumothora(x|xes|ces)", r"pleural air( collections?)?"),
    "Pleural Effusion": (
        r"effusions?",
        r"pleural fluid",
        r"hydrothorax|hydropneumothorax",
        r"fluid in the (left |right )?(pleural space|fissure)",
    ),
    "Pleural Other": (
        r"pleural (thickening|plaques?|scar(ring)?|calcifications?)",
        r"pleural[- ]parenchymal (scar(ring)?|thickening)",
        r"fibrothorax",
        r"apical (pleural )?(cap|capping)",
    ),
    "Fracture": (r"fractur(e|es|ed)", r"fx"),
    "Support Devices": (
        r"(endotracheal|et|tracheostomy|nasogastric|ng|og|orogastric|feeding|chest|enteric|dobhoff) tubes?",
        r"catheters?|picc|port-?a-?cath|mediport|(central venous |central |venous |arterial )lines?",
        r"pacemaker|pacer|defibrillator|aicd|icd|(pacer |pacemaker |cardiac )?leads|generator",
        r"stents?|(prosthetic |mechanical )valve|valve (replacement|prosthesis)|drains?|(surgical )?clips",
        r"(sternotomy|sternal) wires|hardware|(orthopedic |fixation )?(plates?|screws|rods?)|devices?|loop recorder",
    ),
}

# Anatomy whose size is described: a mention only together with a qualifier in the same clause.
ATTRIBUTE_MENTIONS: dict[str, tuple[str, ...]] = {
    "Cardiomegaly": (
        r"heart( size)?",
        r"cardiac (silhouette|size|shadow|contours?|outline|diameter)",
    ),
    "Enlarged Cardiomediastinum": (
        r"cardiomediastinal (silhouette|contours?|size|shadow)",
        r"mediastin(um|al (silhouette|contours?|width|configuration))",
        r"cardiac and mediastinal (silhouettes?|contours?)",
    ),
}
ABNORMAL_QUALIFIERS = (
    r"enlarged|enlargement|large|increased|widened|widening|prominent|prominence|cardiomegaly|borderline",
)
# Size at the edge of normal: an uncertain finding.
BORDERLINE_QUALIFIERS = (
    r"(at )?(the )?upper limits? of normal|upper normal|(near )?top(-| )normal|high normal",
)
NORMAL_QUALIFIERS = (
    r"normal|within normal limits|unremarkable|not enlarged|not widened|stable|unchanged|size is normal",
    r"negative|no enlargement|normal in size|normal size|satisfactory|maintained|preserved",
)

# Observations whose mention, when affirmed, is itself an uncertain finding (e.g. congestion -> edema).
UNCERTAIN_MENTIONS: dict[str, tuple[str, ...]] = {
    "Edema": (r"(pulmonary |central )?(vascular|venous) (congestion|engorgement)", r"pulmonary congestion"),
    "Pneumonia": (r"aspiration",),
}

# Phrases that look like mentions but are not the observation.
UNMENTIONS: dict[str, tuple[str, ...]] = {
    "Pleural Effusion": (r"pericardial effusions?", r"joint effusions?", r"(knee|shoulder|elbow) effusions?"),
    "Lung Lesion": (
        r"calcified (nodules?|granulomas?|(lung |pulmonary )?nodular densit(y|ies))",
        r"massive|mass effect",
        r"(soft tissue|breast|neck|thyroid|mediastinal|hilar) mass(es)?",
    ),
    "Lung Opacity": (r"pleural scar(ring)?", r"pleural[- ]parenchymal scar(ring)?"),
    "Edema": (r"(soft tissue|subcutaneous|extremity|facial) edema",),
    "Pneumonia": (
        r"(old|prior|previous|remote|healed|chronic|past) (granulomatous )?(infection|infectious( process)?)",
        r"granulomatous (infection|infectious( process)?)",
    ),
    "Atelectasis": (r"(vertebral|compression|body) collapse",),
    "Fracture": (r"fractured? (leads?|wires?)",),
    "Support Devices": (r"midline|line of|kerley b? ?lines|septal lines|lead apron",),
}

# Cues. Pre-cues govern mentions after them in the clause; post-cues mentions before them.
PRE_NEGATION_UNCERTAINTY = (
    r"(cannot|can not|can't|could not|difficult to|unable to) (be )?(entirely |completely |definitely )?"
    r"(exclude|excluded|rule out|ruled out|assess|evaluate)",
    r"no new|not (entirely |completely )?(exclude|ruled out)",
    r"no (definite|convincing|definitive|obvious|clear)( evidence of| radiographic evidence of)?",
)
PRE_NEGATION = (
    r"(no|without)( [\w-]+){0,6} (to suggest|suggest(ive|ing) of|concerning for|to indicate)",
    r"no|not|without|nor|none",
    r"negative for|free of|clear of|absence of|absent|lack of",
    r"(interval )?(resolution|resolved|removal|clearing|clearance) of",
    r"resolved|rule out|ruled out|excluded|removed",
)
PRE_UNCERTAINTY = (
    r"possible|possibly|may|might|could|perhaps",
    r"question(able)?( of)?|\?|suspicious|suspicion|suspect(ed)?|suggest(s|ive|ing)?|concern(ing)?|worrisome",
    r"differential|equivocal|indeterminate|atypical|not (clearly|well) (seen|visualized)",
    r"correlat(e|ion) (clinically )?for|consider(ed)?|may represent|favou?r(s|ed)?",
)
POST_NEGATION = (
    r"(is|are|was|were|has been|have been)?( no longer| not)( currently)? "
    r"(seen|present|identified|visualized|visualised|evident|demonstrated|appreciated|noted|visible|detected)",
    r"(has|have)? ?(resolved|cleared|been removed|removed)|resolution|absent|(is|are) negative|excluded",
    r"(is|are|appears?|remains?) (normal|within normal limits|unremarkable|clear)|within normal limits",
)
POST_UNCERTAINTY = (
    r"(is |are )?(not|cannot be|can not be|can't be|could not be) (entirely |completely )?(excluded|ruled out)",
    r"suspected|(is|are) (possible|questioned|not (clearly|well) (seen|visualized|evaluated))",
    r"(would be|is|are) (a )?(consideration|considered)",
    r"(could|may|might) (be|represent|reflect)",
)
# Phrases that contain a negation word without negating a finding.
PSEUDO_NEGATION = (
    r"no (significant |appreciable |definite |interval |substantial )*(change|changes|increase|decrease)",
    r"not (significantly )?(changed|increased|decreased)",
    r"without (significant |interval )?change",
    r"no longer",
    r"not only",
)
# Words that end the scope of a cue inside a sentence.
CLAUSE_BREAKS = (
    r"but|however|although|though|except|whereas|while|aside from|apart from|otherwise|which|that is",
    r"there (is|are|has|have)|and (the|there)|with (the )?(exception|interval)|; ",
)
