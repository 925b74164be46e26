"""Code lists of the submission format: the only values a coded column may take.

See docs/design.md, Submission format and data contracts.
"""

NHS_REGIONS = (
    "London",
    "South East",
    "South West",
    "East of England",
    "Midlands",
    "North West",
    "North East and Yorkshire",
)
CENTRE_POPULATIONS = ("adult", "paediatric", "all_ages")
COSTIMULATORY_DOMAINS = ("CD28", "4-1BB")
DISEASES = ("LBCL", "FL", "MCL", "B-ALL")
RECOMMENDATIONS = ("routine", "managed_access", "not_recommended", "superseded")

PANELS = ("ALL", "lymphoma", "paediatric")
DECISIONS = ("approved", "declined", "deferred", "pending")

SEXES = ("female", "male", "other", "not_stated")
ETHNIC_GROUPS = ("Asian", "Black", "Mixed", "White", "Other", "Not stated")
CARE_SETTINGS = ("inpatient", "ambulatory")
TRAVEL_EXCEPTION_REASONS = ("accommodation_declined", "clinical_decision", "patient_choice", "other")
CARER_EXCEPTION_REASONS = ("extended_inpatient_stay", "alternative_carer_arranged", "patient_declined", "other")

ITU_REASONS = ("CRS", "ICANS", "infection", "other")
STATUSES_D100 = ("alive", "died", "lost_to_follow_up")
DEATH_CAUSES = ("progression", "CRS", "ICANS", "infection", "other")

# The service specification asks for at least 14 days within 2 hours of the centre after discharge.
NEARBY_STAY_MIN_DAYS = 14
