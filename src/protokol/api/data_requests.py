"""API routes of data requests: asking for fields and documents, answering,
reviewing the document checklist and the citizen's prefill consent."""

from ninja import Router, Status

from protokol.api import schemas as s
from protokol.api.schemas import PathInt
from protokol.consultations import data_requests, prefill, services

router = Router(tags=["data requests"])


def _detail(request, consultation_id: int) -> dict:
    consultation = services.read_consultation(request.user, consultation_id, via="api")
    detail = data_requests.request_detail(request.user, consultation)
    return {**detail, "consultation_version": consultation.version}


@router.get(
    "/consultations/{consultation_id}/data-request", response=s.DataRequestDetail
)
def get_data_request(request, consultation_id: PathInt):
    """Return the latest data request, with prefilled values for its citizen."""
    return _detail(request, consultation_id)


@router.post(
    "/consultations/{consultation_id}/data-request",
    response={201: s.DataRequestDetail},
)
def post_data_request(request, consultation_id: PathInt, body: s.DataRequestIn):
    """Ask the citizen for fields of the service and named documents."""
    data_requests.request_data(
        request.user,
        consultation_id,
        fields=body.fields,
        documents=body.documents,
        comment=body.comment,
        base_version=body.base_version,
    )
    return Status(201, _detail(request, consultation_id))


@router.post(
    "/consultations/{consultation_id}/data-request/answer",
    response=s.DataRequestDetail,
)
def post_data_answer(request, consultation_id: PathInt, body: s.DataAnswerIn):
    """Give the requested values; the consultation goes back to drafting."""
    data_requests.answer(
        request.user,
        consultation_id,
        values=body.values,
        comment=body.comment,
        base_version=body.base_version,
    )
    return _detail(request, consultation_id)


@router.put(
    "/consultations/{consultation_id}/documents/{document_id}",
    response=s.RequestedDocumentOut,
)
def put_document(
    request, consultation_id: PathInt, document_id: PathInt, body: s.DocumentReviewIn
):
    """Accept a received document, or reject it with a reason."""
    document = data_requests.review_document(
        request.user,
        consultation_id,
        document_id,
        status=body.status,
        reason=body.reason,
        base_version=body.base_version,
    )
    return data_requests.document_detail(document)


@router.get("/me/prefill-consent", response=s.PrefillConsentOut)
def get_prefill_consent(request):
    """Return whether the citizen allows prefilling from earlier data (citizens)."""
    return {"enabled": prefill.own_consent(request.user)}


@router.put("/me/prefill-consent", response=s.PrefillConsentOut)
def put_prefill_consent(request, body: s.PrefillConsentIn):
    """Switch prefilling from earlier data on or off (citizens)."""
    return {"enabled": prefill.set_consent(request.user, body.enabled)}
