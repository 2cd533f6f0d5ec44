"""API routes of personal data: the citizen's identifiers, the data collected
for a consultation and lookups by identifier.

Identifiers travel only in request bodies, never in query strings, because
URLs with their query strings are written to access logs.
"""

from ninja import Router

from protokol.accounts import identifiers
from protokol.api import schemas as s
from protokol.api.schemas import PathInt
from protokol.consultations import personal_data

router = Router(tags=["personal data"])


@router.get("/me/identifiers", response=s.IdentifiersOut)
def get_identifiers(request):
    """Return the caller's identifiers, decrypted; the read is journaled."""
    return identifiers.read_identifiers(request.user, via="api")


@router.put("/me/identifiers", response=s.IdentifiersSaved)
def put_identifiers(request, body: s.IdentifiersIn):
    """Replace the caller's identifiers; 422 names each invalid field."""
    fields = identifiers.set_identifiers(request.user, body.dict())
    return {"fields": fields}


@router.get("/consultations/{consultation_id}/data", response=s.CollectedDataOut)
def get_collected_data(request, consultation_id: PathInt):
    """Return the data collected for a consultation, decrypted; journaled."""
    return personal_data.read_collected_data(request.user, consultation_id, via="api")


@router.put("/consultations/{consultation_id}/data", response=s.CollectedDataSummary)
def put_collected_data(request, consultation_id: PathInt, body: s.CollectedDataIn):
    """Replace the values of the service's required fields for a consultation."""
    return personal_data.set_collected_data(request.user, consultation_id, body.values)


@router.post("/lookup", response=s.LookupOut)
def look_up(request, body: s.LookupIn):
    """Find citizens and consultations by the exact value of an identifier."""
    from protokol.api.api import _consultation_out

    result = personal_data.look_up(request.user, field=body.field, value=body.value)
    return {
        "citizens": [{"id": c.pk, "name": c.display_name} for c in result.citizens],
        "consultations": [_consultation_out(c) for c in result.consultations],
    }
